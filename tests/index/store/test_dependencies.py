"""Every core dependency in pyproject.toml is one sfxkit imports: a user installs nothing unused."""

from __future__ import annotations

import re
from importlib.metadata import packages_distributions

import pytest

from tests.index.store.helpers import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

# Dependencies sfxkit does not import itself, each with the reason it is listed.
INDIRECT = {
    "torchvision": "pinned to match torch; open_clip_torch imports it",
    # OpenTimelineIO finds its adapters through their entry points: sfxkit names them ("AAF",
    # "fcp_xml", "cmx_3600") and never imports their modules.
    "otio-aaf-adapter": "OTIO adapter plugin (AAF), loaded by name through opentimelineio",
    "otio-fcp-adapter": "OTIO adapter plugin (FCP 7 XML), loaded by name through opentimelineio",
    "otio-cmx3600-adapter": "OTIO adapter plugin (CMX3600 EDL), loaded by name through opentimelineio",
}


def test_every_core_dependency_is_imported_by_sfxkit():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    modules_of: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    source = "\n".join(p.read_text() for p in (ROOT / "sfxkit").rglob("*.py"))
    imported = set(re.findall(r"^\s*(?:import|from)\s+(\w+)", source, re.MULTILINE))
    unused = sorted(n for n in names - INDIRECT.keys() if not modules_of.get(n, set()) & imported)
    assert unused == [], f"listed in pyproject.toml but never imported by sfxkit: {unused}"
