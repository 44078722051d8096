"""`sfxkit.compare`: retrieved against generated per shot, as self-contained HTML plus JSON."""

from __future__ import annotations

import base64
import html
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from sfxkit.cli import main
from sfxkit.editorial.report import CompareResult, compare, spectrogram
from sfxkit.errors import InputError
from tests import synth


class Media(HTMLParser):
    """Every element that loads something, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"img", "audio", "video", "source", "script", "link", "iframe", "object"} or (
            "src" in a or "href" in a
        ):
            self.items.append((tag, a))


def data(uri: str, mime: str) -> bytes:
    head, _, payload = uri.partition(",")
    assert head == f"data:{mime};base64"
    return base64.b64decode(payload)


def test_html_is_self_contained_with_every_sound_and_picture(report: CompareResult) -> None:
    page = report.html.read_text()
    parser = Media()
    parser.feed(page)
    tags = [t for t, _ in parser.items]
    n_shots = len(report.shots)
    sounds_per_shot = [len(s.sounds) for s in report.shots]
    assert n_shots == 2 and sounds_per_shot == [3, 3]  # generated + k=2 retrieved
    assert set(tags) == {"img", "audio"}  # no script, stylesheet link or external anything
    assert tags.count("audio") == sum(sounds_per_shot)
    assert tags.count("img") == n_shots + sum(sounds_per_shot)  # keyframes + spectrograms

    audio = [a["src"] for t, a in parser.items if t == "audio"]
    durations = [s.shot.duration for s in report.shots for _ in s.sounds]
    for src, seconds in zip(audio, durations, strict=True):
        wav, sr = sf.read(io.BytesIO(data(src, "audio/wav")), dtype="float32")
        assert sr == 16_000 or sr == 22_050
        assert len(wav) / sr == pytest.approx(seconds, abs=1.0 / sr + 1e-6)  # fitted to the shot
        assert np.abs(wav).max() > 1e-3
    for _, a in (x for x in parser.items if x[0] == "img"):
        img = Image.open(io.BytesIO(data(a["src"], "image/png")))
        img.load()
        assert img.width > 8 and img.height > 8 and a["alt"]


def test_scores_side_by_side(report: CompareResult, tiny_index) -> None:
    from sfxkit.recommender import Recommender

    recs = Recommender(tiny_index[0]).recommend_video(
        report.video, k=2, filters={"exclude_flags": ["silent"]}
    )
    for cmp, shot_recs in zip(report.shots, recs, strict=True):
        gen, *retrieved = cmp.sounds
        assert cmp.decision in {"retrieve", "generate", "blend"} and cmp.reason
        assert gen.kind == "generated" and gen.non_commercial and gen.untrained
        assert gen.duration_fit == 1.0 and gen.rank is None
        # A generated sound has no visual description: its frame score is against its prompt.
        assert set(gen.frame_similarity) == {"clip_text"} and "prompt" in gen.frame_similarity_note
        # Retrieved sounds carry the index's own scores and ranks for the keyframe.
        assert [s.id for s in retrieved] == [r.id for r in shot_recs.recommendations]
        for s, r in zip(retrieved, shot_recs.recommendations, strict=True):
            assert s.frame_similarity["clip_text"] == pytest.approx(r.score, abs=1e-5)
            expect_fit = min(r.duration, cmp.shot.duration) / max(r.duration, cmp.shot.duration)
            assert s.duration_fit == pytest.approx(expect_fit, abs=1e-3)
        for s in cmp.sounds:
            assert s.clap_prompt is not None and -1.0 <= s.clap_prompt <= 1.0
            assert s.loudness is not None and s.loudness_kind in {"integrated", "peak"}
            # The shots move from their first frames: every sound has an onset offset.
            assert cmp.visual_onset is not None and s.onset_offset is not None
            assert s.onset_offset == pytest.approx(s.audio_onset - cmp.visual_onset, abs=1e-3)
        assert cmp.prompt and cmp.negative_prompt == "speech, music"

    doc = json.loads(report.json.read_text())
    assert doc["untrained"] is True and doc["non_commercial"] is True
    assert [s["decision"] for s in doc["shots"]] == [c.decision for c in report.shots]
    assert doc["shots"][0]["sounds"][0]["licence"].startswith("none: untrained")

    page = report.html.read_text()
    assert "Untrained models." in page and "NON-COMMERCIAL" in page
    for cmp in report.shots:
        assert f'class="decision {cmp.decision}"' in page
        assert html.escape(cmp.reason) in page


def test_spectrogram_shows_frequency_and_level() -> None:
    sr = 22_050
    width, height = 200, 100
    tone = synth.tone(1000, 1.0, sr)
    rows = np.asarray(spectrogram(tone, sr, size=(width, height))).astype(float).sum(axis=(1, 2))
    brightest = int(np.argmax(rows))
    freq = (height - 1 - brightest + 0.5) / height * sr / 2
    assert abs(freq - 1000) < 2 * (sr / 2) / height
    # Quieter is darker; digital silence is the colour map's floor everywhere.
    quiet = np.asarray(spectrogram(tone * 0.01, sr, size=(width, height))).astype(float)
    loud = np.asarray(spectrogram(tone, sr, size=(width, height))).astype(float)
    assert quiet.max() < loud.max()
    silent = np.asarray(spectrogram(np.zeros((1, sr), np.float32), sr, size=(width, height)))
    assert silent.max() <= 4


def test_bad_output_name(tiny_index, two_shots: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="report.html"):
        compare(two_shots, tiny_index[0], out=tmp_path / "report.pdf", variant="tiny_16k")


def test_cli_compare(capsys, tiny_index, two_shots: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli" / "cmp.html"
    code = main(
        ["compare", str(two_shots), "--index", str(tiny_index[0]), "--out", str(out),
         "-k", "1", "--variant", "tiny_16k", "--steps", "2", "--no-progress", "--json"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    assert doc["html"] == str(out) and Path(doc["json"]).is_file() and out.is_file()
    assert doc["untrained"] is True and len(doc["shots"]) == 2
    assert out.read_text().count("<audio") == 4  # generated + 1 retrieved, two shots
