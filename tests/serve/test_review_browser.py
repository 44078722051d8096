"""The review page in a real browser (Playwright driving Debian's chromium): audition a
candidate, swap a shot to another candidate, export, and hear the chosen sound in the mix.

Skipped, with the reason, when chromium or the playwright package is missing. The screenshot
is kept in the test's temporary folder (and copied to ``$SFXKIT_TEST_ARTEFACTS`` when set).
"""

from __future__ import annotations

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
from tests.serve.conftest import free_port

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


def test_review_swap_and_export(world, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    import soxr

    query = urlencode(
        {
            "video": str(world.video),
            "policy": "retrieve",
            "variant": "tiny_16k",
            "steps": 2,
            "follow_motion": "false",
            "align": "false",
        }
    )
    app = create_app(world.index, jobs_dir=tmp_path / "jobs")
    with run_server(app, free_port(), timeout=280) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/review?{query}", timeout=120_000)
            assert page.locator("section.shot").count() == 3

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

            page.click("#export")
            page.wait_for_selector('#export-state[data-state="done"]', timeout=240_000)
            links = page.locator("a.output")
            names = [links.nth(i).text_content() for i in range(links.count())]
            shot_png = tmp_path / "review.png"
            page.screenshot(path=str(shot_png), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    if os.environ.get("SFXKIT_TEST_ARTEFACTS"):
        dest = Path(os.environ["SFXKIT_TEST_ARTEFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot_png, dest / "review.png")

    mix_name = next(n for n in names if n.endswith(".wav") and "mix" in n)
    (job_dir,) = (d for d in (tmp_path / "jobs").iterdir() if d.name != "review")
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
