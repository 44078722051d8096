"""The review page's timeline editor in a real browser (Playwright driving Debian's chromium) on a
layered video (two scenes, three visible events): the lanes show the beds and spots the
soundtrack plans; a spot is swapped, a bed dragged later, FX muted, a spot added at the
playhead, and the export carries exactly that; the page's command reproduces it headless.

Skipped, with the reason, when chromium or the playwright package is missing. Screenshots are
kept in the test's temporary folder (and copied to ``$SFXKIT_TEST_ARTEFACTS`` when set).
"""

from __future__ import annotations

import html
import json
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sfxkit
from sfxkit.recommender import Recommender
from sfxkit.serve import create_app
from sfxkit.serve.loadtest import run_server
from tests.editorial.conftest import Layered, build_layered
from tests.serve.conftest import free_port, sfxkit_exe
from tests.serve.test_review_browser import CHROMIUM, keep, open_review

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"
    ),
    pytest.mark.slow,
    pytest.mark.network,
]

OPTIONS = {
    "layers": "auto",
    "policy": "retrieve",
    "variant": "tiny_16k",
    "steps": 2,
    "follow_motion": "false",
    "align": "false",
}


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Layered:
    return build_layered(tmp_path_factory.mktemp("layered-review"))


def _mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim == 2 else x


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _source(path: str, sr: int) -> np.ndarray:
    import soxr

    audio, asr = sf.read(path, always_2d=True)
    return soxr.resample(_mono(audio), asr, sr)


def test_timeline_edit_and_export(layered: Layered, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    out = tmp_path / "out"
    query = {"video": str(layered.video), "out": str(out), **OPTIONS}
    app = create_app(layered.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    shots: list[Path] = []
    with run_server(app, free_port(), timeout=400) as url, playwright.sync_playwright() as p:
        browser, page, errors = open_review(p, url, query)
        try:
            config = json.loads(page.locator("#review-config").text_content())
            planned = {c["key"]: c for c in config["timeline"]["cues"]}
            # the lanes show what the soundtrack plans: a bed per scene, a spot per event
            assert sorted(planned) == ["bed-0", "bed-1", "spot-0", "spot-1", "spot-2"]
            bg = page.locator('.lane[data-lane="BG"] .cue-block')
            fx = page.locator('.lane[data-lane="FX"] .cue-block')
            assert sorted(bg.nth(i).get_attribute("data-key") for i in range(bg.count())) == [
                "bed-0",
                "bed-1",
            ]
            assert fx.count() == 3
            for key, cue in planned.items():
                block = page.locator(f'.cue-block[data-key="{key}"]')
                assert float(block.get_attribute("data-start")) == pytest.approx(
                    cue["start"], abs=1e-3
                )
                assert block.locator(".name").text_content().startswith(key)
            assert page.locator(".boundary").count() == 4  # the first shot and three cuts
            page.wait_for_timeout(1000)  # waveforms drawn
            shots.append(tmp_path / "timeline-planned.png")
            page.screenshot(path=str(shots[-1]), full_page=True)

            # swap spot-1 to another (short) candidate from the inspector
            spot = page.locator('.cue-block[data-key="spot-1"]')
            spot.click()
            assert page.locator("#inspector").get_attribute("data-key") == "spot-1"
            was = spot.get_attribute("data-sound")
            swap = next(
                c for c in planned["spot-1"]["candidates"] if c["id"] != was and c["duration"] < 1
            )
            with page.expect_response("**/api/review/session") as saved:
                page.locator(f'#inspector .cand[data-id="{swap["id"]}"] .use').click()
            assert saved.value.json()["cues"]["spot-1"]["sound"] == swap["id"]
            assert (
                page.locator('.cue-block[data-key="spot-1"]').get_attribute("data-sound")
                == swap["id"]
            )

            # drag bed-1 about 0.4 s later
            pps = float(page.locator("#zoom").input_value())
            bed = page.locator('.cue-block[data-key="bed-1"]').bounding_box()
            x, y = bed["x"] + 30, bed["y"] + bed["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            with page.expect_response("**/api/review/session") as saved:
                for step in range(1, 9):
                    page.mouse.move(x + step * 0.05 * pps, y)
                page.mouse.up()
            bed_offset = saved.value.json()["cues"]["bed-1"]["offset"]
            assert bed_offset == pytest.approx(0.4, abs=0.02)

            # mute FX (a monitoring switch: the export still has it)
            page.locator('.lane-head[data-lane="FX"] .mute').click()
            assert page.locator('.lane[data-lane="FX"]').get_attribute("data-audible") == "0"
            assert page.locator('.lane[data-lane="BG"]').get_attribute("data-audible") == "1"

            # add a spot at the playhead: click the ruler at 1.0 s
            ruler = page.locator("#ruler").bounding_box()
            page.mouse.click(ruler["x"] + 1.0 * pps, ruler["y"] + 5)
            assert page.evaluate("document.getElementById('picture').currentTime") == (
                pytest.approx(1.0, abs=0.05)
            )
            with page.expect_response("**/api/review/session") as saved:
                page.click("#add-spot")
            (added,) = saved.value.json()["added"]
            assert added["at"] == pytest.approx(1.0, abs=0.05)
            assert page.locator('.lane[data-lane="FX"] .cue-block[data-key="added-0"]').count()

            page.click("#export")
            page.wait_for_selector('#export-state[data-state="done"]', timeout=400_000)
            shots.append(tmp_path / "timeline-edited.png")
            page.screenshot(path=str(shots[-1]), full_page=True)
            command = html.unescape(page.locator("#command").inner_html())
            assert not errors, errors
        finally:
            browser.close()
    for png in shots:
        keep(png)

    session = json.loads((out / "choices.json").read_text())
    assert session["version"] == 2
    decisions = {
        d["numbers"]["cue_key"]: d
        for d in json.loads((out / "decisions.json").read_text())["shots"]
    }
    assert sorted(decisions) == ["added-0", "bed-0", "bed-1", "spot-0", "spot-1", "spot-2"]
    fx, sr = sf.read(out / "stems" / "FX.wav", always_2d=True)
    bg, _ = sf.read(out / "stems" / "BG.wav", always_2d=True)
    fx, bg = _mono(fx), _mono(bg)
    rows = Recommender(layered.index).index.rows.set_index("id")

    def heard_at(stem: np.ndarray, start: float, item: str, length: float) -> float:
        want = _source(rows.loc[item, "path"], sr)
        n = int(min(length, len(want) / sr) * sr)
        a = int(round(start * sr))
        return _corr(stem[a + 64 : a + n - 64], want[64 : n - 64])

    # the swapped spot: its new sound from its cue start, up to the next spot
    s1 = decisions["spot-1"]
    gap = planned["spot-2"]["start"] - planned["spot-1"]["start"]
    assert s1["numbers"]["retrieved_id"] == swap["id"]
    assert heard_at(fx, s1["cue_span"][0], swap["id"], gap) > 0.9
    assert heard_at(fx, s1["cue_span"][0], was, gap) < 0.9
    # the added spot, alone in FX around 1 s
    a0 = decisions["added-0"]
    assert heard_at(fx, a0["cue_span"][0], added["sound"], 2.0) > 0.9

    # the dragged bed: 0.4 s later than the same soundtrack without choices
    plain = tmp_path / "plain"
    sfxkit.soundtrack(
        layered.video,
        layered.index,
        layers="auto",
        policy="retrieve",
        variant="tiny_16k",
        steps=2,
        follow_motion=False,
        align=False,
        out=plain,
        progress=False,
    )
    bg0, _ = sf.read(plain / "stems" / "BG.wav", always_2d=True)
    bg0 = _mono(bg0)
    t0, t1 = planned["bed-1"]["start"] + bed_offset + 0.6, planned["bed-1"]["end"] - 0.1
    a, b = int(t0 * sr), int(t1 * sr)
    shift = int(round(bed_offset * sr))
    assert _corr(bg[a:b], bg0[a - shift : b - shift]) > 0.9
    assert _corr(bg[a:b], bg0[a:b]) < 0.9

    # the page's command, run headless, makes the same export sample for sample
    args = shlex.split(command)
    assert args[:2] == ["sfxkit", "soundtrack"] and args[args.index("--layers") + 1] == "auto"
    args[args.index("--out") + 1] = str(tmp_path / "headless")
    r = subprocess.run(
        [sfxkit_exe(), *args[1:], "--no-progress"], capture_output=True, text=True, timeout=400
    )
    assert r.returncode == 0, r.stderr
    for name in ("stems/BG.wav", "stems/FX.wav", *(p.name for p in out.glob("*mix*.wav"))):
        page_made, _ = sf.read(out / name, always_2d=True)
        headless, _ = sf.read(tmp_path / "headless" / name, always_2d=True)
        np.testing.assert_array_equal(headless, page_made, err_msg=name)


def test_timeline_keys_preview_and_zoom(layered: Layered, tmp_path: Path) -> None:
    """Arrows walk the cues in time order, a decision key sets the selected cue's decision,
    space plays the video (the playhead follows), the mix preview schedules the audible cues'
    sounds (not a muted lane's), zoom widens the timeline."""
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    out = tmp_path / "out"
    query = {"video": str(layered.video), "out": str(out), **OPTIONS}
    app = create_app(layered.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with run_server(app, free_port(), timeout=300) as url, playwright.sync_playwright() as p:
        browser, page, errors = open_review(p, url, query)
        try:
            page.locator("h1").click()  # focus on the page, not a field
            page.keyboard.press("ArrowRight")
            assert page.locator("#inspector").get_attribute("data-key") == "bed-0"
            page.keyboard.press("ArrowRight")
            assert page.locator("#inspector").get_attribute("data-key") == "bed-1"
            page.keyboard.press("ArrowRight")
            assert page.locator("#inspector").get_attribute("data-key") == "spot-0"
            with page.expect_response("**/api/review/session") as saved:
                page.keyboard.press("s")
            assert saved.value.json()["cues"]["spot-0"]["decision"] == "silence"
            assert "silence" in page.locator('.cue-block[data-key="spot-0"]').get_attribute("class")
            page.keyboard.press("ArrowLeft")
            assert page.locator("#inspector").get_attribute("data-key") == "bed-1"

            width = page.locator("#tracks").bounding_box()["width"]
            page.locator("#zoom").fill("300")
            assert page.locator("#tracks").bounding_box()["width"] > width * 1.2

            page.locator('.lane-head[data-lane="BG"] .mute').click()
            page.locator("#preview-mix").check()
            page.evaluate("document.getElementById('picture').currentTime = 0")
            page.locator("h1").click()  # space in a checkbox toggles the checkbox
            page.keyboard.press(" ")
            page.wait_for_function(
                "() => document.getElementById('picture').currentTime > 0.3", timeout=30_000
            )
            # playing from 0 with BG muted and spot-0 silenced: spot-1 and spot-2
            page.wait_for_function(
                "() => document.getElementById('preview-mix').dataset.cues === '2'",
                timeout=30_000,
            )
            left = float(page.locator("#playhead").evaluate("e => parseFloat(e.style.left)"))
            assert left > 0.3 * 300 * 0.9
            page.keyboard.press(" ")
            assert page.evaluate("document.getElementById('picture').paused")
            png = tmp_path / "timeline-keys.png"
            page.screenshot(path=str(png), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    keep(png)


def _rendered(page, lanes: str = "audible") -> np.ndarray:
    """The page's mix preview as samples (mono, the mix's rate)."""
    import base64

    got = page.evaluate(f"() => window.sfxTimeline.renderMix({{lanes: '{lanes}'}})")
    assert not got["errors"], got["errors"]
    return np.frombuffer(base64.b64decode(got["samples"]), dtype="<f4").astype(np.float64)


def _naive_preview(layered: Layered, decisions: dict, sr: int, n: int) -> np.ndarray:
    """The preview this page had before: each catalog sound from its cue start at its gain
    (beds -8 dB, looped), no levelling, fades or generated sounds. The baseline to beat."""
    rows = Recommender(layered.index).index.rows.set_index("id")
    out = np.zeros(n)
    for d in decisions.values():
        item = d["numbers"].get("retrieved_id")
        if item is None:
            continue
        want = _source(rows.loc[item, "path"], sr)
        a, b = (int(round(t * sr)) for t in d["cue_span"])
        b = min(b, n)
        if d["role"] == "bed":
            want = np.tile(want, (b - a) // len(want) + 1) * 10 ** (-8 / 20)
        take = min(b - a, len(want))
        out[a : a + take] += want[:take]
    return out


def test_the_preview_plays_the_mix_the_export_makes(layered: Layered, tmp_path: Path) -> None:
    """Generate a bed's sound on the page and blend it, turn a spot down, then preview: the
    browser's mix (every cue fitted, levelled, blended and faded as the export does it) matches
    the exported stems sample by sample, far closer than the old preview of raw files; a
    generated cue not generated yet is named as not heard; muting FX takes the spots out."""
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    out = tmp_path / "out"
    options = {"layers": "auto", "policy": "retrieve", "variant": "tiny_16k", "steps": 2}
    query = {"video": str(layered.video), "out": str(out), **options}
    app = create_app(layered.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with run_server(app, free_port(), timeout=400) as url, playwright.sync_playwright() as p:
        browser, page, errors = open_review(p, url, query)
        try:
            # spot-1 down 6 dB
            page.locator('.cue-block[data-key="spot-1"]').click()
            with page.expect_response("**/api/review/session"):
                page.locator("#inspector .insp-gain").evaluate(
                    "e => { e.value = '-6'; e.dispatchEvent(new Event('change')); }"
                )
            # bed-1 blended with a sound generated for it on the page, at an equal share
            page.locator('.cue-block[data-key="bed-1"]').click()
            with page.expect_response("**/api/review/session"):
                page.locator("#inspector .insp-decision").select_option("blend")
            not_yet = page.evaluate("() => window.sfxTimeline.renderMix()")
            assert not_yet["missing"] == ["bed-1"]  # no generated sound yet: said, not faked
            assert "bed-1" in page.locator("#preview-note").text_content()
            page.locator("#inspector .insp-generate").click()
            page.wait_for_selector(
                '#inspector .insp-generate-state[data-state="done"]', timeout=300_000
            )
            assert page.locator("#inspector .cand.generated audio").count() == 1
            with page.expect_response("**/api/review/session") as saved:
                page.locator("#inspector .insp-blend").evaluate(
                    "e => { e.value = '50'; e.dispatchEvent(new Event('change')); }"
                )
            assert saved.value.json()["cues"]["bed-1"] == {
                "decision": "blend",
                "sound": None,
                "gain_db": 0,
                "offset": 0,
                "blend": 0.5,
                "deleted": False,
            }
            every = _rendered(page, "all")
            page.locator('.lane-head[data-lane="FX"] .mute').click()
            no_fx = _rendered(page)
            assert page.locator("#preview-note").get_attribute("data-missing") == ""

            page.click("#export")
            page.wait_for_selector('#export-state[data-state="done"]', timeout=400_000)
            png = tmp_path / "timeline-preview.png"
            page.screenshot(path=str(png), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    keep(png)

    decisions = {
        d["numbers"]["cue_key"]: d
        for d in json.loads((out / "decisions.json").read_text())["shots"]
    }
    assert decisions["bed-1"]["decision"] == "blend"
    stems = {}
    for name in ("BG", "FX", "GEN"):
        audio, sr = sf.read(out / "stems" / f"{name}.wav", always_2d=True)
        stems[name] = _mono(audio)
    exported = stems["BG"] + stems["FX"] + stems["GEN"]  # the mix before its peak limiter
    assert len(every) == len(exported)

    # the whole mix, and each cue on its own span
    whole = _corr(every, exported)
    level_db = 20 * np.log10(np.std(every) / np.std(exported))
    naive = _corr(_naive_preview(layered, decisions, sr, len(exported)), exported)
    assert whole > 0.99, whole
    assert abs(level_db) < 0.5, level_db
    assert whole > naive + 0.05, (whole, naive)
    for key, d in decisions.items():
        a, b = (int(round(t * sr)) for t in d["cue_span"])
        assert _corr(every[a:b], exported[a:b]) > 0.98, key

    # spot-1 turned down 6 dB: heard 6 dB under spot-0 less in both
    def peak(x: np.ndarray, key: str) -> float:
        a = int(decisions[key]["cue_span"][0] * sr)
        return 20 * np.log10(np.abs(x[a : a + int(0.3 * sr)]).max())

    for x in (every, exported):
        assert peak(x, "spot-1") - peak(x, "spot-0") < -3
    # FX muted: the preview is the beds and the generated lane only
    assert _corr(no_fx, stems["BG"] + stems["GEN"]) > 0.99
