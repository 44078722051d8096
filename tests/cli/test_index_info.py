"""`sfxkit index info` through the installed entry point: near-duplicate groups beyond the
first five are announced with the option that lists them, and that option lists them all."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfxkit.index.build import build_index
from sfxkit.index.store import IndexStore
from tests import synth
from tests.index.store.helpers import rehash

EXE = Path(sys.executable).with_name("sfxkit")
GROUPS = 7


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny index whose 14 sounds form 7 near-duplicate groups of two (one file name has
    brackets, which rich markup would eat)."""
    root = tmp_path_factory.mktemp("info")
    lib = root / "lib"
    for i in range(2 * GROUPS):
        name = "boom [big].wav" if i == 0 else f"tone_{i:02d}.wav"
        synth.write_audio(lib / name, synth.tone(200 + 35 * i, 0.3))
    out = root / "idx"
    build_index(lib, out, models="tiny", progress=False)
    store = IndexStore(out)
    table = pq.read_table(store.manifest().dir / "rows.parquet")
    paths = table.column("path").to_pylist()
    order = sorted(range(len(paths)), key=lambda i: paths[i])
    group = [""] * len(paths)
    for rank, i in enumerate(order):
        group[i] = f"g{rank // 2}"
    i = table.schema.get_field_index("near_dup_group")
    column = pa.array(group, type=pa.string())
    table = (
        table.set_column(i, "near_dup_group", column)
        if i >= 0
        else table.append_column("near_dup_group", column)
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    rehash(out, "rows.parquet", buf.getvalue())
    return out


def info(index: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), "index", "info", str(index), *more],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )


def group_lines(out: str) -> list[str]:
    return [x for x in out.splitlines() if x.startswith("  ") and "  =  " in x]


def test_info_says_how_many_groups_it_left_out_and_how_to_see_them(grouped):
    proc = info(grouped)
    assert proc.returncode == 0, proc.stderr
    assert f"near-duplicates: {2 * GROUPS} items in {GROUPS} groups" in proc.stdout
    assert len(group_lines(proc.stdout)) == 5
    assert (
        f"(5 of {GROUPS} groups shown; `sfxkit index info {grouped} --all-duplicates` lists all)"
        in proc.stdout
    )


def test_all_duplicates_lists_every_group(grouped):
    proc = info(grouped, "--all-duplicates")
    assert proc.returncode == 0, proc.stderr
    lines = group_lines(proc.stdout)
    assert len(lines) == GROUPS and "groups shown" not in proc.stdout
    assert any("boom [big].wav" in x for x in lines)  # the file name as it is
    listed = {p.strip() for x in lines for p in x.split("  =  ")}
    assert len(listed) == 2 * GROUPS

    as_json = json.loads(info(grouped, "--json", "--all-duplicates").stdout)
    assert len(as_json["near_duplicates"]["examples"]) == GROUPS
    assert len(json.loads(info(grouped, "--json").stdout)["near_duplicates"]["examples"]) == 5


def test_a_few_groups_need_no_hint(grouped, tmp_path):
    few = Path(shutil.copytree(grouped, tmp_path / "idx"))
    table = pq.read_table(IndexStore(few).manifest().dir / "rows.parquet")
    group = [g if g in ("g0", "g1") else "" for g in table.column("near_dup_group").to_pylist()]
    i = table.schema.get_field_index("near_dup_group")
    buf = io.BytesIO()
    pq.write_table(table.set_column(i, "near_dup_group", pa.array(group, pa.string())), buf)
    rehash(few, "rows.parquet", buf.getvalue())
    proc = info(few)
    assert proc.returncode == 0, proc.stderr
    assert len(group_lines(proc.stdout)) == 2 and "groups shown" not in proc.stdout
