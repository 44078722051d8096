"""The installed `sfxkit` entry point behaves like a Unix tool: exit codes, usage errors, Ctrl-C,
fail-fast model checks, one option vocabulary, messages in CLI terms, tables and progress.

Every test runs the console script in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sfxkit.index.build import build_index
from sfxkit.index.store import load_index
from sfxkit.recommender import Recommender
from tests import synth

EXE = Path(sys.executable).with_name("sfxkit")


def sfxkit(*args: object, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def tones(folder: Path, n: int, start: int = 0) -> Path:
    for i in range(start, start + n):
        synth.write_audio(folder / f"tone_{i:03d}.wav", synth.tone(200 + 15 * i, 0.4))
    return folder


def ids(recs: list) -> list[str]:
    return [r.id for r in recs]


# ----------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_build_exits_130_and_keeps_the_previous_version(tmp_path):
    lib, out = tones(tmp_path / "lib", 4), tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    before = ids(Recommender(out).recommend_text("a low tone", k=3))
    tones(lib, 80, start=4)

    proc = subprocess.Popen(
        [str(EXE), "index", "build", str(lib), "--out", str(out), "--models", "tiny"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SFXKIT_PROGRESS": "1", "SFXKIT_PROGRESS_INTERVAL": "0"},
        # Ctrl-C as a terminal delivers it, even where this test runs in a background job (a
        # shell's `cmd &` starts it with SIGINT ignored, which the CLI rightly keeps ignoring)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    seen: list[str] = []
    try:
        while True:  # wait until the build is really decoding files
            seen.append(lines.get(timeout=120))
            if seen[-1].startswith("ingest: ") and not seen[-1].startswith("ingest: 0/"):
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
    err = "".join(seen) + "".join(iter_queue(lines))
    assert "interrupted" in err and "Traceback" not in err
    assert load_index(out).manifest.version == 1
    assert ids(Recommender(out).recommend_text("a low tone", k=3)) == before


def iter_queue(q: queue.Queue[str]) -> list[str]:
    out = []
    while True:
        try:
            out.append(q.get(timeout=2))
        except queue.Empty:
            return out


# ----------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "x.png", "--index", "idx", "--bogus"],
        ["recommend", "x.png", "--index", "idx", "-k", "0"],
        ["recommend", "x.png"],  # --index missing
        ["no-such-command"],
        ["recommend", "dog", "barking", "--text", "--index", "idx"],  # unquoted query
    ],
    ids=["unknown-option", "k-zero", "missing-index", "unknown-command", "unquoted-text"],
)
def test_usage_errors_exit_2_with_a_usage_message(args, tmp_path):
    proc = sfxkit(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Usage: sfxkit" in proc.stderr and "Error:" in proc.stderr
    assert "unexpected error" not in proc.stderr
    if "barking" in args:
        assert "quote" in proc.stderr


def test_help_exits_0():
    for args in (["--help"], ["recommend", "--help"], ["index", "build", "--help"]):
        proc = sfxkit(*args)
        assert proc.returncode == 0 and "Usage: sfxkit" in proc.stdout


# ----------------------------------------------------------------------------- models


def test_build_without_weights_fails_before_reading_any_file(tmp_path):
    lib = tones(tmp_path / "lib", 30)
    (lib / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    proc = sfxkit("index", "build", lib, "--out", tmp_path / "idx", SFXKIT_PROGRESS="1")
    assert proc.returncode == 4
    assert "sfxkit models pull" in proc.stderr and "--models tiny" in proc.stderr
    # nothing was decoded (forced progress prints "ingest: 0/N" as soon as decoding starts,
    # see test_progress_in_a_log_is_plain_lines) and nothing was written
    assert "ingest" not in proc.stderr
    assert not (tmp_path / "idx").exists()


def test_rebuild_without_models_keeps_the_index_models(tmp_path):
    lib, out = tones(tmp_path / "lib", 3), tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    tones(lib, 2, start=3)
    proc = sfxkit("index", "build", lib, "--out", out, "--json", SFXKIT_PROGRESS="0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # SFXKIT_PROGRESS=0: no progress at all
    report = json.loads(proc.stdout)
    assert report["version"] == 2 and report["added"] == 2
    assert report["models"] == {"frame": "open_clip:tiny", "audio": "clap:tiny"}
    assert report["embedded"]["clap_audio"] == 2  # the old vectors were reused


@pytest.mark.slow  # about 20 s: torch, the tiny MMAudio and one sampler step in a subprocess
def test_generate_takes_models_tiny(tmp_path):
    out = tmp_path / "door.wav"
    proc = sfxkit(
        "generate", "--models", "tiny", "-o", out, "--prompt", "a door", "--steps", "1",
        "--duration", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and "variant: tiny_16k" in proc.stdout


def test_generate_without_weights_says_what_works_offline(tmp_path):
    proc = sfxkit("generate", "-o", tmp_path / "x.wav", "--prompt", "a door")
    assert proc.returncode == 4 and "--models tiny" in proc.stderr
    assert not (tmp_path / "x.wav").exists()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    return synth.make_video(path, [("red", 1.0), ("stripes", 1.0)], size=64)


def test_soundtrack_on_a_tiny_index_fails_fast_with_offline_advice(tiny_index, clip, tmp_path):
    index, _ = tiny_index
    for command, out in (("soundtrack", tmp_path / "st"), ("compare", tmp_path / "r.html")):
        proc = sfxkit(command, clip, "--index", index, "--out", out, SFXKIT_PROGRESS="1")
        assert proc.returncode == 4, proc.stderr
        assert "mmaudio:large_44k_v2" in proc.stderr and "--models tiny" in proc.stderr
        assert ("--policy retrieve" in proc.stderr) == (command == "soundtrack")
        assert "shots" not in proc.stderr  # no work was done first


def test_soundtrack_takes_models_tiny_and_prints_stage_lines(tiny_index, clip, tmp_path):
    index, _ = tiny_index
    proc = sfxkit(
        "soundtrack", clip, "--index", index, "--out", tmp_path / "st", "--models", "tiny",
        "--policy", "retrieve", SFXKIT_PROGRESS="1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "clip.mp4: shots and catalog candidates ..." in proc.stderr
    assert "clip.mp4: shots and catalog candidates: done in" in proc.stderr
    assert "soundtrack: 2/2 (100%) in" in proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    assert (tmp_path / "st").is_dir()


# ----------------------------------------------------------------------------- messages


def test_recommend_messages_use_cli_terms(tiny_index, sfx_library, tmp_path):
    index, _ = tiny_index
    sound = sfx_library / "weather" / "rain_heavy.wav"
    proc = sfxkit("recommend", sound, "--index", index)
    assert proc.returncode == 2 and "--audio" in proc.stderr
    assert "not a readable image" not in proc.stderr

    picture = tmp_path / "shot.jpg"
    from PIL import Image

    Image.fromarray(synth.draw_frame("checker", 32)).save(picture)
    proc = sfxkit("recommend", picture, "--audio", "--index", index)
    assert proc.returncode == 2 and "is an image" in proc.stderr and "drop --audio" in proc.stderr
    assert "remove it from the folder" not in proc.stderr

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    proc = sfxkit("recommend", broken, "--index", index)
    assert proc.returncode == 2 and "broken.png" in proc.stderr
    assert "VIDEO@SECONDS" in proc.stderr and "(video_path, seconds)" not in proc.stderr


# ----------------------------------------------------------------------------- output


def test_recommend_prints_a_table_with_every_column(tmp_path):
    lib, index = tmp_path / "lib", tmp_path / "idx"
    door = synth.noise(1.0, band=(200, 2000), seed=7)
    for name in ("doors/door.wav", "doors/door.ogg", "doors/door.mp3", "rain/rain.flac"):
        synth.write_audio(lib / name, door if "door" in name else synth.noise(2.0, seed=8))
    build_index(lib, index, models="tiny", progress=False)
    args = ("recommend", "a door", "--text", "--index", index, "-k", "4")
    table = sfxkit(*args)
    assert table.returncode == 0 and "\x1b" not in table.stdout
    lines = table.stdout.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("#"))
    columns = header.split()
    assert columns == ["#", "score", "title", "category", "duration", "loudness", "licence", "file"]
    recs = [r.to_dict() for r in Recommender(index).recommend_text("a door", k=4)]
    rows = lines[lines.index(header) + 1 :]
    assert len(rows) == len(recs) == 4
    for row, rec in zip(rows, recs, strict=True):
        short = str(Path(rec["path"]).relative_to(lib))
        assert row.split()[0] == str(rec["rank"]) and row.rstrip().endswith(short)
        assert f"{rec['duration']:.2f} s" in row and (rec["category"] or "-") in row
        assert rec["licence"] in row and f"{rec['loudness']:.1f}" in row
        assert row.index(short) == header.index("file")  # columns line up under the header
    # the same sound in three formats is told apart by its file
    assert sorted(r.split()[-1] for r in rows if " door " in r) == [
        "doors/door.mp3",
        "doors/door.ogg",
        "doors/door.wav",
    ]


def test_progress_in_a_log_is_plain_lines(tmp_path):
    lib = tones(tmp_path / "lib", 8)
    proc = sfxkit("index", "build", lib, "--out", tmp_path / "idx", "--models", "tiny",
                  SFXKIT_PROGRESS="1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ingest: 0/8 (0%)" in proc.stderr and "ingest: 8/8 (100%) in" in proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr


def test_progress_in_a_terminal_leaves_no_stale_bars(tmp_path):
    pty = pytest.importorskip("pty")
    lib = tones(tmp_path / "lib", 8)
    import fcntl
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [str(EXE), "index", "build", str(lib), "--out", str(tmp_path / "idx"), "--models", "tiny"],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**os.environ, "SFXKIT_PROGRESS": "1"},
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(controller)
    screen = b"".join(chunks).decode(errors="replace")
    assert "ingest" in screen  # there was a live bar
    # what stays on screen once each line is finished: no bar (each was removed at its end),
    # and the encoder's own batches inside "embedding clap_audio" never drew one
    kept = [line.split("\r")[-1].strip() for line in screen.split("\n")]
    assert not [line for line in kept if line]
    assert "CLAP audio" not in screen


# ----------------------------------------------------------------------------- Python


def test_python_warns_once_about_an_untrained_index(tiny_index):
    index, _ = tiny_index
    code = (
        "import sys\nfrom sfxkit.recommender import Recommender\n"
        "for _ in range(3): Recommender(sys.argv[1])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", code, str(index)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("UntrainedModelWarning") == 1
    assert "meaningless" in proc.stderr and "sfxkit models pull" in proc.stderr
