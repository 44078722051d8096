"""CatalogItem and its Parquet round trip."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfxkit.catalog import schema
from sfxkit.catalog.schema import CatalogItem, faiss_id_for, items_to_table, table_to_items


def _item(**kw) -> CatalogItem:
    base = dict(
        id="fedcba9876543210",
        path="/lib/Doors/door.wav",
        paths=("/lib/Doors/door.wav", "/lib/copy/door.flac"),
        title="Door wood open",
        description="a slow creak",
        tags=("door", "creak"),
        category="DOORS",
        subcategory="WOOD",
        ucs_catid="DOORWood",
        creator="JD",
        source="MyLib",
        licence="CC0",
        duration=1.25,
        sample_rate=48_000,
        channels=2,
        loudness=-23.4,
        loudness_kind="integrated",
        peak_dbfs=-3.2,
        qc_flags=("clipped",),
        metadata_source="ucs",
        visual_descriptions=("a photo of a wooden door", "a close-up of a wooden door"),
        file_stamps=("100:123456789", "90:123456700"),
        describer="template/1",
    )
    base.update(kw)
    return CatalogItem(**base)


def test_derived_fields():
    item = _item()
    # top bit of 0xfedc... is set: the FAISS id masks it off so it stays a positive int64
    assert item.faiss_id == int("fedcba9876543210", 16) & 0x7FFF_FFFF_FFFF_FFFF
    assert 0 <= item.faiss_id < 2**63
    assert item.visual_description == "a photo of a wooden door"
    assert item.metadata_text.startswith("Door wood open. a slow creak")
    assert "doors / wood" in item.metadata_text and "creak" in item.metadata_text
    plain = CatalogItem(id="0000000000000001", path="/x.wav", tags=["a"])  # type: ignore[arg-type]
    assert plain.paths == ("/x.wav",) and plain.tags == ("a",) and plain.faiss_id == 1


@pytest.mark.parametrize(
    "bad",
    [
        dict(id="XYZ"),
        dict(id="FEDCBA9876543210"),
        dict(faiss_id=5),
        dict(loudness_kind="lufs"),
        dict(metadata_source="guess"),
        dict(tags="door"),
    ],
)
def test_validation(bad):
    with pytest.raises((ValueError, TypeError)):
        _item(**bad)


def test_parquet_round_trip_is_exact(tmp_path):
    items = [
        _item(),
        _item(
            id="0123456789abcdef",
            paths=(),
            path="/lib/b.wav",
            tags=(),
            qc_flags=(),
            visual_descriptions=(),
            file_stamps=("1:2",),
            loudness=-80.5,
            loudness_kind="peak",
        ),
    ]
    table = items_to_table(items)
    assert table.schema.equals(schema.ROW_SCHEMA, check_metadata=True)
    pq.write_table(table, tmp_path / "rows.parquet")
    back = table_to_items(pq.read_table(tmp_path / "rows.parquet"))
    assert back == items


def test_table_from_older_or_newer_writer():
    item = _item()
    table = items_to_table([item]).drop_columns(["describer", "visual_descriptions"])
    table = table.append_column("future_column", pa.array(["x"]))
    (back,) = table_to_items(table)
    assert back.describer == "" and back.title == item.title and back.id == item.id


def test_to_dict_is_json_ready():
    import json

    d = _item().to_dict()
    assert d["paths"] == ["/lib/Doors/door.wav", "/lib/copy/door.flac"]
    assert json.loads(json.dumps(d))["faiss_id"] == faiss_id_for("fedcba9876543210")
