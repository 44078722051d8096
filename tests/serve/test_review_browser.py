"""The review page in a real browser (Playwright driving Debian's chromium): audition a
candidate, swap a shot to another candidate, generate a sound for another shot and use it, set a
blend share, export, and hear the chosen sounds in the mix.

Skipped, with the reason, when chromium or the playwright package is missing. The screenshot
is kept in the test's temporary folder (and copied to ``$SFXKIT_TEST_ARTEFACTS`` when set).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
import soundfile as sf

from sfxkit.recommender import Recommender
from sfxkit.serve import create_app
from sfxkit.serve.loadtest import run_server
from tests.serve.conftest import checkout_beside, free_port, serve_process

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"
    ),
    pytest.mark.slow,
    pytest.mark.network,
]


def _mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim == 2 else x


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def keep(png: Path) -> None:
    """A screenshot kept beside the test's files, and in $SFXKIT_TEST_ARTEFACTS when set."""
    if os.environ.get("SFXKIT_TEST_ARTEFACTS"):
        dest = Path(os.environ["SFXKIT_TEST_ARTEFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, dest / png.name)


def test_review_swap_and_export(world, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    import soxr

    query = urlencode(
        {
            "video": str(world.video),
            "out": str(tmp_path / "out"),
            "policy": "retrieve",
            "variant": "tiny_16k",
            "steps": 2,
            "follow_motion": "false",
            "align": "false",
        }
    )
    app = create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with run_server(app, free_port(), timeout=280) as url, playwright.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/review?{query}", timeout=120_000)
            assert page.locator("section.shot").count() == 3
            # the timeline (layers=shot): a block per shot, in FX (retrieve), at the shot's start
            blocks = page.locator('.lane[data-lane="FX"] .cue-block')
            assert [blocks.nth(i).get_attribute("data-key") for i in range(3)] == [
                "shot-0",
                "shot-1",
                "shot-2",
            ]
            starts = [
                float(s.get_attribute("data-start")) for s in page.locator("section.shot").all()
            ]
            assert [float(blocks.nth(i).get_attribute("data-start")) for i in range(3)] == (
                pytest.approx(starts, abs=1e-3)
            )
            # dragging shot 2's block nudges its sound: the same offset as its section's field
            pps = float(page.locator("#zoom").input_value())
            box = page.locator('.cue-block[data-key="shot-2"]').bounding_box()
            x, y = box["x"] + 20, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            with page.expect_response("**/api/review/session") as saved:
                for step in range(1, 5):
                    page.mouse.move(x + step * 0.05 * pps, y)
                page.mouse.up()
            assert saved.value.json()["shots"]["2"]["offset"] == pytest.approx(0.2, abs=0.02)
            offset = page.locator('section.shot[data-shot="2"] .offset').input_value()
            assert float(offset) == pytest.approx(0.2, abs=0.02)

            shot = page.locator('section.shot[data-shot="1"]')
            first_id = shot.locator(".cand").nth(0).get_attribute("data-id")
            # audition: the first candidate plays
            player = shot.locator(".cand audio").nth(0)
            player.evaluate("a => a.play()")
            page.wait_for_function(
                "a => a.currentTime > 0.05", arg=player.element_handle(), timeout=20_000
            )
            player.evaluate("a => a.pause()")

            target = shot.locator(".cand").nth(1)
            chosen = target.get_attribute("data-id")
            assert chosen != first_id
            with page.expect_response("**/api/review/session") as saved:
                target.locator(".use").click()
            assert saved.value.ok
            assert "chosen" in (target.get_attribute("class") or "")

            # shot 2: blend, with a quarter of generated sound; the slider is live only then
            shot2 = page.locator('section.shot[data-shot="2"]')
            assert shot2.locator(".blend").is_disabled()
            with page.expect_response("**/api/review/session"):
                shot2.locator(".choose-decision").select_option("blend")
            assert shot2.locator(".blend").is_enabled()
            with page.expect_response("**/api/review/session") as saved:
                shot2.locator(".blend").fill("25")
            assert saved.value.json()["shots"]["2"]["blend"] == 0.25
            assert shot2.locator(".blend-value").text_content() == "25%"

            # shot 0: generate its sound, audition it, use it
            shot0 = page.locator('section.shot[data-shot="0"]')
            shot0.locator(".generate").click()
            page.wait_for_selector(
                'section.shot[data-shot="0"] .generate-state[data-state="done"]',
                state="attached",  # an empty span: never "visible"
                timeout=240_000,
            )
            generated = shot0.locator(".cand.generated")
            assert generated.count() == 1
            gen_player = generated.locator("audio")
            gen_player.evaluate("a => a.play()")
            page.wait_for_function(
                "a => a.currentTime > 0.05", arg=gen_player.element_handle(), timeout=20_000
            )
            gen_player.evaluate("a => a.pause()")
            gen_src = gen_player.get_attribute("src") or ""
            with page.expect_response("**/api/review/session") as saved:
                generated.locator(".use").click()
            assert saved.value.json()["shots"]["0"]["decision"] == "generate"
            assert "chosen" in (generated.get_attribute("class") or "")
            assert shot0.locator(".choose-decision").input_value() == "generate"

            page.click("#export")
            page.wait_for_selector('#export-state[data-state="done"]', timeout=240_000)
            links = page.locator("a.output")
            names = [links.nth(i).text_content() for i in range(links.count())]
            shot_png = tmp_path / "review.png"
            page.screenshot(path=str(shot_png), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    keep(shot_png)

    mix_name = next(n for n in names if n.endswith(".wav") and "mix" in n)
    job_dir = tmp_path / "out"  # the export lands where the page was opened with out=
    mix, sr = sf.read(job_dir / mix_name)
    rec = Recommender(world.index)
    rows = rec.index.rows.set_index("id")
    shot_start, shot_end = (
        rec.recommend_video(world.video, 1)[1].start,
        rec.recommend_video(world.video, 1)[1].end,
    )
    seg = _mono(mix)[int((shot_start + 0.05) * sr) : int((shot_end - 0.05) * sr)]

    def expected(item: str) -> np.ndarray:
        audio, asr = sf.read(rows.loc[item, "path"], always_2d=True)
        mono = soxr.resample(_mono(audio), asr, sr)
        reps = int(np.ceil((shot_end - shot_start) * sr / len(mono))) + 1
        tiled = np.tile(mono, reps)
        return tiled[int(0.05 * sr) : int(0.05 * sr) + len(seg)]

    assert _corr(seg, expected(chosen)) > 0.9
    assert _corr(seg, expected(first_id)) < 0.9

    # shot 0 is the sound the page played when generated
    gen_job = gen_src.split("/api/jobs/")[1].split("/")[0]
    heard, hsr = sf.read(tmp_path / "jobs" / gen_job / "shot-0-generated.wav", always_2d=True)
    end0 = rec.recommend_video(world.video, 1)[0].end
    seg0 = _mono(mix)[int(0.05 * sr) : int((end0 - 0.05) * sr)]
    heard0 = soxr.resample(_mono(heard), hsr, sr)[int(0.05 * sr) :][: len(seg0)]
    assert _corr(seg0, heard0) > 0.9
    decisions = (job_dir / "decisions.json").read_text()
    assert '"blend_share": 0.25' in decisions


def open_review(p, url: str, query: dict) -> tuple:
    """Chromium on ``url``'s review page for ``query`` at 1280 px: (browser, page, errors), the
    page's uncaught JavaScript errors collecting in ``errors``."""
    browser = launch(p)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/review?{urlencode(query)}", timeout=180_000)
    return browser, page, errors


def test_generate_on_shots_the_policy_says_to_generate(world, tmp_path):
    """The shots whose suggestion is "generate" (and "blend") carry that word as a class on
    their decision badge; the page's button and slider are found all the same."""
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    query = {
        "video": str(world.video),
        "out": str(tmp_path / "out"),
        "policy": "generate",
        "variant": "tiny_16k",
        "steps": 2,
    }
    app = create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with run_server(app, free_port(), timeout=280) as url, playwright.sync_playwright() as p:
        browser, page, errors = open_review(p, url, query)
        try:
            shot = page.locator('section.shot[data-shot="0"]')
            assert shot.locator(".decision.generate").count() == 1
            with page.expect_request("**/api/review/generate") as asked:
                shot.locator("button.generate").click()
            assert asked.value.post_data_json["shot"] == 0
            page.wait_for_selector(
                'section.shot[data-shot="0"] .generate-state[data-state="done"]',
                state="attached",
                timeout=240_000,
            )
            assert shot.locator(".cand.generated").count() == 1
            # use it; shot 1 from the catalog, shot 2 silent: then the preview has every sound
            with page.expect_response("**/api/review/session"):
                shot.locator(".cand.generated .use").click()
            for n, decision in ((1, "retrieve"), (2, "silence")):
                with page.expect_response("**/api/review/session"):
                    page.locator(f'section.shot[data-shot="{n}"] .choose-decision').select_option(
                        decision
                    )
            got = page.evaluate("() => window.sfxTimeline.renderMix({lanes: 'all'})")
            assert got["cues"] == ["shot-0", "shot-1"] and got["missing"] == [], got["missing"]
            preview = np.frombuffer(base64.b64decode(got["samples"]), dtype="<f4")
            page.click("#export")
            page.wait_for_selector('#export-state[data-state="done"]', timeout=280_000)
            png = tmp_path / "review-generate.png"
            page.screenshot(path=str(png), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    keep(png)
    # the preview is the export: the generated shot, the catalog shot aligned to and following
    # the shot's motion, levelled, crossfaded at the cut (the stems' sum: the mix before its limiter)
    stems = [
        _mono(sf.read(f, always_2d=True)[0])
        for f in sorted((tmp_path / "out" / "stems").glob("*.wav"))
    ]
    exported = np.sum(stems, axis=0)
    assert len(preview) == len(exported)
    assert (
        _corr(preview, exported) > 0.98
    )  # 0.994 measured: the generated shot is resampled by the browser, not soxr
    assert abs(20 * np.log10(np.std(preview) / np.std(exported))) < 0.5


def test_blend_label_and_result_lists(world, tmp_path):
    """On a blended shot the share reads "50%", not "undefined%"; "More like this" and a text
    search give headed lists with rank, score, duration and category."""
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    query = {"video": str(world.video), "out": str(tmp_path / "out"), "policy": "blend"}
    app = create_app(world.index, jobs_dir=tmp_path / "jobs", outputs_root=tmp_path)
    with run_server(app, free_port(), timeout=200) as url, playwright.sync_playwright() as p:
        browser, page, errors = open_review(p, url, query)
        try:
            shot = page.locator('section.shot[data-shot="1"]')
            assert shot.locator(".decision.blend").count() == 1
            assert shot.locator(".blend-value").text_content() == "50%"
            assert shot.locator("input.blend").is_enabled()
            with page.expect_response("**/api/review/session") as saved:
                shot.locator("input.blend").fill("30")
            assert saved.value.json()["shots"]["1"]["blend"] == 0.3
            assert shot.locator(".blend-value").text_content() == "30%"

            shot.locator(".cand .similar").first.click()
            block = shot.locator('.results[data-kind="similar"]')
            block.wait_for(timeout=60_000)
            assert block.locator("h3").text_content().startswith("More like")
            rows = block.locator(".cand")
            assert rows.count() == 5
            assert [rows.nth(i).get_attribute("data-rank") for i in range(5)] == [
                "1",
                "2",
                "3",
                "4",
                "5",
            ]
            words = rows.nth(0).locator(".words").text_content()
            assert "score " in words and " s" in words and "[" in words
            shot.locator(".search-text").fill("water")
            shot.locator("button.search").click()
            found = shot.locator('.results[data-kind="search"]')
            found.wait_for(timeout=60_000)
            assert "water" in found.locator("h3").text_content()
            png = tmp_path / "review-results.png"
            page.screenshot(path=str(png), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    keep(png)


def test_the_page_exports_and_generates_when_served_beside_a_folder_named_sfxkit(world, tmp_path):
    """`sfxkit serve` started from a folder holding a checkout named `sfxkit` (say ~ with
    ~/sfxkit): the page's Generate a sound and Export run, their jobs importing the sfxkit the
    server runs, not the folder (which once failed with "module 'sfxkit' has no attribute
    'SoundtrackOptions'")."""
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    home = tmp_path / "home"
    env = checkout_beside(home)
    out = tmp_path / "out"
    query = {
        "video": str(world.video),
        "out": str(out),
        "policy": "retrieve",
        "variant": "tiny_16k",
        "steps": 2,
    }
    roots = ("--jobs-dir", str(tmp_path / "jobs"), "--outputs-root", str(tmp_path))
    with (
        serve_process(world.index, *roots, cwd=home, env=env) as url,
        playwright.sync_playwright() as p,
    ):
        browser, page, errors = open_review(p, url, query)
        try:
            shot = page.locator('section.shot[data-shot="0"]')
            shot.locator("button.generate").click()
            state = 'section.shot[data-shot="0"] .generate-state'
            page.wait_for_selector(
                f'{state}[data-state="done"], {state}[data-state="failed"]',
                state="attached",
                timeout=240_000,
            )
            assert page.locator(state).get_attribute("data-state") == "done", page.locator(
                state
            ).text_content()
            assert shot.locator(".cand.generated").count() == 1
            page.click("#export")
            page.wait_for_selector(
                '#export-state[data-state="done"], #export-state[data-state="failed"]',
                timeout=280_000,
            )
            words = page.locator("#export-state").text_content()
            assert page.locator("#export-state").get_attribute("data-state") == "done", words
            assert not errors, errors
        finally:
            browser.close()
    assert (out / "decisions.json").is_file() and list((out / "stems").glob("*.wav"))
