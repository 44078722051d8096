"""The bundled table is the official UCS 8.2.1 schedule; newer versions load as CSV or JSON."""

from __future__ import annotations

import json

import pytest

from sfxkit.catalog.ucs import catid_for, lookup_catid, parse_ucs_name, ucs_table, ucs_table_info
from sfxkit.errors import ConfigError


def test_bundled_table_is_ucs_8_2_1_with_explanations_and_synonyms():
    info = ucs_table_info()
    assert info.version == "8.2.1" and "iluvcapra/ucs-community" in info.source
    table = ucs_table()
    assert len(table) == info.entries == 752
    air = lookup_catid("AIRBrst")
    assert air is not None and (air.category, air.subcategory) == ("AIR", "BURST")
    assert "a fire extinguisher" in air.examples
    assert {"co2", "poof", "pop"} <= set(air.synonyms)
    # UCS 8.2.1 names the voice category VOICES and its general rain CatID is RAIN
    assert lookup_catid("RAIN").subcategory == "GENERAL"
    assert "VOICES" in {e.category for e in table.values()}
    assert sum(1 for e in table.values() if e.explanation) > 740


def test_category_pair_finds_its_catid():
    assert catid_for("doors", "Wood").catid == "DOORWood"
    assert catid_for("DOORS", "") is None and catid_for("NOPE", "WOOD") is None


def test_newer_version_as_json(tmp_path, monkeypatch):
    entries = [
        {
            "version": "9.0",
            "Category": "ZAPPERS",
            "SubCategory": "TINY",
            "CatID": "ZAPTiny",
            "Explanations": "Tiny electric zaps, a bug zapper.",
            "Synonyms": ["zap", "spark"],
        }
    ]
    path = tmp_path / "en.json"
    path.write_text(json.dumps(entries))
    monkeypatch.setenv("SFXKIT_UCS_TABLE", str(path))
    assert ucs_table_info().version == "9.0"
    name = parse_ucs_name("ZAPTiny_Little Zap_AB_Lib")
    assert name is not None and name.category == "ZAPPERS"
    assert lookup_catid("zaptiny").examples == ("tiny electric zaps", "a bug zapper")
    assert lookup_catid("zaptiny").synonyms == ("zap", "spark")
    path.write_text(json.dumps([{"CatID": "X"}]))
    with pytest.raises(ConfigError, match="lacks CatID, Category or SubCategory"):
        ucs_table()


@pytest.mark.parametrize(
    ("first_line", "version"),
    [
        ("# ucs-version: 8.3\n", "8.3"),
        ("Universal Category System v8.2,,,\n", "8.2"),
        ("", "unknown"),
    ],
)
def test_csv_version_is_recorded(tmp_path, monkeypatch, first_line, version):
    path = tmp_path / "UCS.csv"
    path.write_text(
        first_line
        + 'CatID,Category,SubCategory,Explanations,Synonyms\nDOORWood,DOORS,WOOD,Wood doors,"door, wood"\n'
    )
    monkeypatch.setenv("SFXKIT_UCS_TABLE", str(path))
    assert ucs_table_info().version == version
    assert lookup_catid("DOORWood").synonyms == ("door", "wood")


def test_plain_word_catids_need_their_exact_case():
    # UCS 8.2.1 has CatIDs RAIN and BEEP: ordinary names that start with the word stay ordinary
    assert parse_ucs_name("rain_heavy") is None and parse_ucs_name("beep_short") is None
    name = parse_ucs_name("RAIN_Heavy Downpour_AB_Lib")
    assert name is not None and (name.category, name.subcategory) == ("RAIN", "GENERAL")
    assert parse_ucs_name("doorwood_Creak").catid == "DOORWood"  # mixed-case CatIDs: any case
