"""UCS file names and the CatID table (bundled, or the user's official export)."""

from __future__ import annotations

import pytest

from sfxkit.catalog.ucs import lookup_catid, parse_ucs_name, ucs_table
from sfxkit.errors import ConfigError

BRIEF_CATEGORIES = [
    "AIR",
    "AIRCRAFT",
    "ALARMS",
    "AMBIENCE",
    "ANIMALS",
    "BELLS",
    "BIRDS",
    "BOATS",
    "BULLETS",
    "CARTOON",
    "CERAMICS",
    "CHAINS",
    "CLOCKS",
    "CLOTH",
    "COMMUNICATIONS",
    "COMPUTERS",
    "CREATURES",
    "CROWDS",
    "DESIGNED",
    "DESTRUCTION",
    "DOORS",
    "DRAWERS",
    "ELECTRICITY",
    "EQUIPMENT",
    "EXPLOSIONS",
    "FIGHT",
    "FIRE",
    "FIREWORKS",
    "FOLEY",
    "FOOTSTEPS",
    "GAMES",
    "GLASS",
    "GUNS",
    "HORNS",
    "HUMAN",
    "ICE",
    "LASERS",
    "LEATHER",
    "MACHINES",
    "MAGIC",
    "MECHANICAL",
    "METAL",
    "MOTORS",
    "MOVEMENT",
    "MUSICAL",
    "OBJECTS",
    "PAPER",
    "PLASTIC",
    "RAIN",
    "ROBOTS",
    "ROCKS",
    "ROPE",
    "RUBBER",
    "SCIFI",
    "SNOW",
    "SPORTS",
    "SWOOSHES",
    "TOOLS",
    "TOYS",
    "TRAINS",
    "VEHICLES",
    "VOICES",
    "WATER",
    "WEAPONS",
    "WEATHER",
    # UCS files whooshes under SWOOSHES; it has no WHOOSHES category
    "WINDOWS",
    "WINGS",
    "WOOD",
] + ["DIRT & SAND", "FOOD & DRINK", "LIQUID & MUD", "NATURAL DISASTER", "USER INTERFACE"]


def test_parse_full_ucs_name():
    name = parse_ucs_name("DOORWood_Creaky Open Slow_JD_MyLib")
    assert name is not None
    assert (name.catid, name.category, name.subcategory) == ("DOORWood", "DOORS", "WOOD")
    assert (name.fx_name, name.creator_id, name.source_id) == ("Creaky Open Slow", "JD", "MyLib")
    assert name.user_data == "" and name.user_category == ""


def test_parse_user_category_user_data_and_case():
    name = parse_ucs_name("RAINMetl-Barn_Rain On Tin Roof_AB_Lib_Take 2_v3")
    assert name is not None
    assert name.catid == "RAINMetl" and name.user_category == "Barn"
    assert name.category == "RAIN"
    assert name.user_data == "Take 2_v3"
    short = parse_ucs_name("gunauto_Burst")
    assert short is not None and short.catid == "GUNAuto" and short.creator_id == ""


@pytest.mark.parametrize(
    "stem", ["my_door_sound", "DOORWood", "door wood creak", "XYZAbc_Thing_JD_Lib", "DOORWood_"]
)
def test_non_ucs_names(stem):
    assert parse_ucs_name(stem) is None


def test_bundled_table_covers_the_categories():
    table = ucs_table()
    categories = {e.category for e in table.values()}
    missing = [c for c in BRIEF_CATEGORIES if c not in categories]
    assert not missing
    assert len(table) > 500
    for catid, cat in [
        ("WATRSplsh", "WATER"),
        ("GUNAuto", "GUNS"),
        ("EXPLReal", "EXPLOSIONS"),
        ("VEHCar", "VEHICLES"),
        ("RAIN", "RAIN"),
        ("FEETHmn", "FOOTSTEPS"),
    ]:
        entry = lookup_catid(catid)
        assert entry is not None and entry.category == cat
        assert entry.explanations


def test_user_table_from_env(tmp_path, monkeypatch):
    # Official-style export: a title row, different column order, synonyms column.
    csv_text = (
        "Universal Category System v8.2,,,,\n"
        "Category,SubCategory,CatID,CatShort,Explanations,Synonyms - Comma Separated\n"
        'DOORS,WOOD,DOORWood,DOOR,Wooden doors,"door, wood"\n'
        "ZAPPERS,TINY,ZAPTiny,ZAP,Tiny zaps,zap\n"
    )
    path = tmp_path / "UCS.csv"
    path.write_text(csv_text)
    monkeypatch.setenv("SFXKIT_UCS_TABLE", str(path))
    name = parse_ucs_name("ZAPTiny_Little Zap_AB_Lib")
    assert name is not None and (name.category, name.subcategory) == ("ZAPPERS", "TINY")
    assert parse_ucs_name("GUNAuto_Burst_AB_Lib") is None  # not in the user's table
    assert "wood" in lookup_catid("doorwood").explanations.lower()

    monkeypatch.setenv("SFXKIT_UCS_TABLE", str(tmp_path / "missing.csv"))
    with pytest.raises(ConfigError, match="SFXKIT_UCS_TABLE"):
        ucs_table()
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    monkeypatch.setenv("SFXKIT_UCS_TABLE", str(tmp_path / "bad.csv"))
    with pytest.raises(ConfigError, match="CatID"):
        ucs_table()
