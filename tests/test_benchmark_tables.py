"""Every README table that benchmarks/render_tables.py owns says what its committed JSON says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _render_tables():
    spec = importlib.util.spec_from_file_location(
        "render_tables", ROOT / "benchmarks" / "render_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(_render_tables().TABLES))
def test_readme_table_equals_its_json(name):
    now, rendered = _render_tables().rendered(name)
    assert now == rendered, (
        f"the {name} table is out of date with its JSON: run python benchmarks/render_tables.py"
    )


def test_a_changed_figure_is_caught(tmp_path, monkeypatch):
    import json

    mod = _render_tables()
    readme, result, render = mod.TABLES["bridge_synthetic"]
    data = json.loads(result.read_text())
    data["trained"]["R@1"] += 0.1
    changed = tmp_path / "bridge.json"
    changed.write_text(json.dumps(data))
    monkeypatch.setitem(mod.TABLES, "bridge_synthetic", (readme, changed, render))
    now, rendered = mod.rendered("bridge_synthetic")
    assert now != rendered
