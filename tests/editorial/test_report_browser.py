"""The compare report opened in headless Chromium: every audio player and picture loads.

Needs Debian's ``chromium`` (``.ci/run`` installs it); skipped, with the reason, without it.
A small probe script is added to a copy of the report: it marks each ``<img>``/``<audio>`` as
loaded or failed from the browser's own events and writes the marks into the DOM, which
``--dump-dom`` prints. The probe is checked against a copy with broken media, so it can fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sfxkit.editorial.report import CompareResult

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="headless Chromium not installed (apt-get install chromium; .ci/run does it)",
)

PROBE = """<script>
(function () {
  function report() {
    var all = Array.prototype.slice.call(document.querySelectorAll('img, audio'));
    var out = all.map(function (el) {
      return {tag: el.tagName.toLowerCase(), state: el.dataset.probe || 'pending',
              duration: el.tagName === 'AUDIO' ? el.duration : null};
    });
    var pre = document.getElementById('__probe');
    if (!pre) { pre = document.createElement('pre'); pre.id = '__probe'; document.body.appendChild(pre); }
    pre.textContent = JSON.stringify(out);
  }
  function mark(el, state) { el.dataset.probe = state; report(); }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('img').forEach(function (img) {
      function check() { mark(img, img.naturalWidth > 0 ? 'loaded' : 'failed'); }
      if (img.complete) { check(); } else {
        img.addEventListener('load', check);
        img.addEventListener('error', function () { mark(img, 'failed'); });
      }
    });
    document.querySelectorAll('audio').forEach(function (a) {
      a.addEventListener('loadedmetadata', function () { mark(a, a.duration > 0 ? 'loaded' : 'failed'); });
      a.addEventListener('error', function () { mark(a, 'failed'); });
      a.load();
    });
    report();
  });
})();
</script>"""


def probe(page: Path, tmp_path: Path) -> list[dict[str, object]]:
    probed = tmp_path / f"probed_{page.name}"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    profile = tmp_path / f"chromium-profile-{page.stem}"
    cmd = [
        str(BROWSER),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        probed.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    m = re.search(r'<pre id="__probe">(.*?)</pre>', done.stdout, re.S)
    assert m, f"no probe output from chromium (rc={done.returncode}): {done.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_every_player_and_image_loads(report: CompareResult, tmp_path: Path) -> None:
    # Moved to another folder first: a self-contained report works anywhere.
    moved = tmp_path / "elsewhere" / "moved.html"
    moved.parent.mkdir()
    shutil.copy(report.html, moved)
    marks = probe(moved, tmp_path)
    audio = [m for m in marks if m["tag"] == "audio"]
    images = [m for m in marks if m["tag"] == "img"]
    assert len(audio) == sum(len(s.sounds) for s in report.shots)
    assert len(images) == len(report.shots) + len(audio)
    assert all(m["state"] == "loaded" for m in marks), marks
    durations = [s.shot.duration for s in report.shots for _ in s.sounds]
    for m, seconds in zip(audio, durations, strict=True):
        assert m["duration"] == pytest.approx(seconds, abs=0.01)


def test_probe_sees_broken_media(report: CompareResult, tmp_path: Path) -> None:
    page = report.html.read_text()
    broken = re.sub(
        r'<audio([^>]*) src="[^"]+"', r'<audio\1 src="data:audio/wav;base64,AAAA"', page, count=1
    )
    broken = re.sub(r'<img([^>]*) src="[^"]+"', r'<img\1 src="missing.png"', broken, count=1)
    bad = tmp_path / "broken.html"
    bad.write_text(broken)
    states = [m["state"] for m in probe(bad, tmp_path)]
    assert states.count("failed") == 2 and states.count("loaded") == len(states) - 2


WIDTH_PROBE = """<script>
window.addEventListener('load', function () {
  var pre = document.createElement('pre'); pre.id = '__width';
  var spill = 0;
  document.querySelectorAll('.scroll').forEach(function (el) {
    spill = Math.max(spill, el.scrollWidth - el.clientWidth);
  });
  pre.textContent = JSON.stringify({page: document.documentElement.scrollWidth,
                                    view: window.innerWidth, table_spill: spill});
  document.body.appendChild(pre);
});
</script>"""


def page_width(page: Path, tmp_path: Path, width: int = 1400) -> dict[str, int]:
    """The page's scroll width, the window's inner width and how far the widest table spills
    out of its box (pixels to scroll sideways) in headless Chromium."""
    probed = tmp_path / f"width_{page.name}"
    probed.write_text(page.read_text().replace("<head>", "<head>" + WIDTH_PROBE, 1))
    cmd = [
        str(BROWSER),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-width'}",
        f"--window-size={width},900",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probed.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    m = re.search(r'<pre id="__width">(.*?)</pre>', done.stdout, re.S)
    assert m, f"no width from chromium (rc={done.returncode}): {done.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"'))


def test_report_fits_a_1400_px_window_and_shows_no_raw_numbers(
    report: CompareResult, tmp_path: Path
) -> None:
    page = report.html.read_text()
    # A long unbroken reason and path (a real library's names) must wrap, not widen the page.
    long = tmp_path / "long.html"
    long.write_text(page.replace("<dd>", "<dd>" + "x" * 400 + " ", 1))
    for p in (report.html, long):
        w = page_width(p, tmp_path)
        assert w["page"] <= w["view"] and w["table_spill"] == 0, w
    # The probe sees a page that does not fit.
    wide = tmp_path / "wide.html"
    wide.write_text(page.replace("<body>", '<body><div style="width:3000px">x</div>', 1))
    w = page_width(wide, tmp_path)
    assert w["page"] > w["view"]
    # Internal decision numbers stay in the JSON; the page explains in words (the reason).
    assert "<dt>numbers</dt>" not in page and 'scale="raw"' not in page
