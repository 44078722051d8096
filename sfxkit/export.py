"""Everything a soundtrack leaves on disk for an editor: stems, mix, muxed video, cue sheets.

:func:`export_all` writes, from a :class:`~sfxkit.timeline.Timeline` and the output of
:func:`sfxkit.mix.mix_timeline`:

- ``stems/shot_003_retrieve.wav``: each cue's sound as placed in the mix (24-bit WAV; it starts
  ``head`` samples before the cue, the crossfade lead-in) and ``mix.wav``, the whole track;
- ``<video>_sfx.mp4``: the video with the mix muxed in, picture packets copied untouched;
- ``cues.csv``: a cue sheet (shot, times, timecodes, decision, reason, sources, licences,
  NON-COMMERCIAL flag);
- ``cues.edl``: CMX3600, one event per sounding cue on audio track A (AA for stereo), record
  times at the video's frame rate, ``* FROM CLIP NAME:`` and ``* NON-COMMERCIAL`` comments;
- ``cues.otio``: OpenTimelineIO, one audio track of clips (gaps where a shot is silent) with
  available ranges and sfxkit metadata (licence, non_commercial, sources, decision);
- ``provenance.json``: where every sound came from (catalog source, or generator, model, seed),
  its licence and the decision behind it; plus ``timeline.json`` and ``layers/`` so the plan can
  be reloaded (:meth:`Timeline.load`).

Sounds under a non-commercial licence (MMAudio's CC-BY-NC 4.0 weights make every generated sound
one) are flagged in every file. Every file is written atomically; a rerun into the same folder
replaces the files and removes stems and layers this export no longer has.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit.errors import InputError
from sfxkit.mix import Stem
from sfxkit.timeline import (
    Cue,
    Timeline,
    json_default,
    layers_summary,
    write_text,
    write_wav,
)

FORMATS: tuple[str, ...] = ("wav", "csv", "edl", "otio", "json", "mp4")
DEFAULT_FPS = 25.0
NON_COMMERCIAL = "NON-COMMERCIAL"
NC_NOTICE = (
    "contains sounds under a non-commercial licence (e.g. generated with CC-BY-NC weights); "
    "do not use commercially without clearing them"
)
_STEM_FILE = re.compile(r"^(shot|bed|spot)_\d{3,}_(retrieve|generate|blend|silence)\.wav$")
_LAYER_FILE = re.compile(r"^(shot|bed|spot)_\d{3,}_L\d+_(retrieved|generated)\.wav$")
_VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv"}


@dataclass(frozen=True)
class ExportResult:
    """Paths written by :func:`export_all` (``None`` for a format not asked for or skipped)."""

    out_dir: Path
    mix: Path | None = None
    stems: tuple[Path, ...] = ()
    csv: Path | None = None
    edl: Path | None = None
    otio: Path | None = None
    provenance: Path | None = None
    timeline: Path | None = None
    video: Path | None = None
    non_commercial: bool = False
    skipped: tuple[str, ...] = ()
    measured: dict[str, Any] | None = None


# ---- timecode ---------------------------------------------------------------------------------


def _frame_base(fps: float) -> int:
    return max(1, int(round(fps)))


def timecode(seconds: float, fps: float) -> str:
    """Non-drop-frame SMPTE timecode ``HH:MM:SS:FF`` of ``seconds`` at ``fps``.

    Frames are counted at the real rate and labelled at the nominal integer rate (NDF), as
    editors expect for 23.976/29.97 material.
    """
    return _tc_frames(int(round(seconds * fps)), fps)


def _tc_frames(frames: int, fps: float) -> str:
    base = _frame_base(fps)
    ff = frames % base
    total = frames // base
    return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}:{ff:02d}"


def _resolve_fps(timeline: Timeline, video: Path | None) -> float:
    if timeline.fps:
        return float(timeline.fps)
    if video is not None and video.exists():
        import av

        try:
            with av.open(str(video)) as c:
                if c.streams.video and c.streams.video[0].average_rate:
                    return float(c.streams.video[0].average_rate)
        except (av.FFmpegError, OSError):
            pass  # timecodes fall back to 25 fps; the mux step reports an unreadable video
    return DEFAULT_FPS


# ---- per-format writers -----------------------------------------------------------------------


def _sources(cue: Cue) -> str:
    names = []
    for layer in cue.layers:
        src = layer.source
        if layer.kind == "generated":
            gen = src.get("generator") or src.get("model") or "generator"
            seed = src.get("seed")
            names.append(f"{gen}" + (f" seed={seed}" if seed is not None else ""))
        else:
            names.append(str(src.get("id") or src.get("title") or src.get("path") or "catalog"))
    return "; ".join(names)


def _licences(cue: Cue) -> str:
    return "; ".join(layer.licence or "unknown" for layer in cue.layers)


def _csv_text(timeline: Timeline, fps: float, stem_names: dict[int, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "shot",
            "start",
            "end",
            "start_tc",
            "end_tc",
            "decision",
            "reason",
            "sources",
            "licence",
            "non_commercial",
            "stem",
        ]
    )
    for cue in timeline.cues:
        w.writerow(
            [
                cue.index,
                f"{cue.start:.6f}",
                f"{cue.end:.6f}",
                timecode(cue.start, fps),
                timecode(cue.end, fps),
                cue.decision,
                cue.reason,
                _sources(cue),
                _licences(cue),
                NON_COMMERCIAL if cue.non_commercial else "",
                stem_names.get(cue.index, ""),
            ]
        )
    return buf.getvalue()


def _edl_text(timeline: Timeline, fps: float, stems: dict[int, Stem], title: str) -> str:
    lines = [f"TITLE: {title}", "FCM: NON-DROP FRAME", ""]
    track = "AA" if timeline.channels == 2 else "A"
    event = 0
    for cue in timeline.cues:
        stem = stems.get(cue.index)
        if stem is None:
            continue  # a silent shot has nothing to place
        event += 1
        # Source times are positions inside the stem file (which starts `head` samples early);
        # counted in whole frames so source and record spans are the same length.
        rec_in, rec_out = round(cue.start * fps), round(cue.end * fps)
        src_in = round(stem.head / stem.sample_rate * fps)
        src_out = src_in + (rec_out - rec_in)
        reel = "AX"  # auxiliary source: the file is named in the clip-name comment below
        lines.append(
            f"{event:03d}  {reel:<8} {track:<5} C        "
            f"{_tc_frames(src_in, fps)} {_tc_frames(src_out, fps)} "
            f"{_tc_frames(rec_in, fps)} {_tc_frames(rec_out, fps)}"
        )
        lines.append(f"* FROM CLIP NAME: {stem.name}")
        lines.append(f"* COMMENT: SHOT {cue.index} {cue.decision.upper()} LICENCE {_licences(cue)}")
        if cue.non_commercial:
            lines.append(f"* {NON_COMMERCIAL}: {NC_NOTICE}")
        lines.append("")
    if event == 0:
        lines.append("* NO SOUNDING CUES")
    return "\n".join(lines) + "\n"


def _cue_metadata(cue: Cue, stem_name: str) -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "shot": cue.index,
                "role": cue.role,
                "scene": cue.scene,
                "shots": list(cue.shots),
                "decision": cue.decision,
                "reason": cue.reason,
                "numbers": cue.numbers,
                "licence": _licences(cue),
                "non_commercial": cue.non_commercial,
                "stem": stem_name,
                "layers": layers_summary(cue.layers),
            },
            default=json_default,
        )
    )


def _otio_text(timeline: Timeline, fps: float, stems: dict[int, Stem], title: str) -> str:
    import opentimelineio as otio

    def rt(seconds: float) -> Any:
        return otio.opentime.RationalTime.from_seconds(seconds, fps)

    def tr(start: float, duration: float) -> Any:
        return otio.opentime.TimeRange(start_time=rt(start), duration=rt(duration))

    tl = otio.schema.Timeline(name=title)
    tl.global_start_time = otio.opentime.RationalTime(0, fps)
    tl.metadata["sfxkit"] = {
        "video": timeline.video,
        "sample_rate": timeline.sample_rate,
        "channels": timeline.channels,
        "non_commercial": timeline.non_commercial,
    }
    # One track per role (and another lane where cues of a role overlap, as spots may): an OTIO
    # track is a sequence, so overlapping cues cannot share one.
    lanes: list[tuple[Any, list[float]]] = []
    for cue in timeline.cues:
        stem = stems.get(cue.index)
        if stem is None:
            continue
        name = "SFX" if cue.role == "shot" else {"bed": "BG", "spot": "FX"}.get(cue.role, "SFX")
        for track, cursors in lanes:
            if track.name.split(" ")[0] == name and cue.start >= cursors[0] - 1e-9:
                break
        else:
            count = sum(1 for t, _ in lanes if t.name.split(" ")[0] == name)
            track = otio.schema.Track(
                name=name if not count else f"{name} {count + 1}", kind=otio.schema.TrackKind.Audio
            )
            tl.tracks.append(track)
            cursors = [0.0]
            lanes.append((track, cursors))
        cursor = cursors[0]
        if cue.start > cursor + 1e-9:
            track.append(otio.schema.Gap(source_range=tr(0.0, cue.start - cursor)))
        ref = otio.schema.ExternalReference(
            target_url=f"stems/{stem.name}",
            available_range=tr(0.0, stem.duration),
        )
        clip = otio.schema.Clip(
            name=stem.name,
            media_reference=ref,
            source_range=tr(stem.head / stem.sample_rate, cue.duration),
        )
        clip.metadata["sfxkit"] = _cue_metadata(cue, stem.name)
        track.append(clip)
        cursors[0] = cue.end
    return otio.adapters.write_to_string(tl, "otio_json")


def _provenance(
    timeline: Timeline,
    stems: dict[int, Stem],
    measured: dict[str, Any] | None,
    files: dict[str, str],
) -> str:
    import sfxkit

    doc = {
        "sfxkit_version": sfxkit.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "video": timeline.video,
        "duration": timeline.duration,
        "sample_rate": timeline.sample_rate,
        "channels": timeline.channels,
        "non_commercial": timeline.non_commercial,
        "notice": NC_NOTICE if timeline.non_commercial else "",
        "mix": measured or {},
        "files": files,
        "cues": [
            {
                "start": cue.start,
                "end": cue.end,
                **_cue_metadata(cue, stems[cue.index].name if cue.index in stems else ""),
            }
            for cue in timeline.cues
        ],
    }
    return json.dumps(doc, indent=2, default=json_default) + "\n"


def _remove_stale(folder: Path, pattern: re.Pattern[str], keep: set[str]) -> None:
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.is_file() and pattern.match(p.name) and p.name not in keep:
            p.unlink()


# ---- the one verb -----------------------------------------------------------------------------


def export_all(
    timeline: Timeline,
    mix: np.ndarray,
    stems: Sequence[Stem],
    out_dir: str | Path,
    *,
    video: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    title: str | None = None,
    target_lufs: float = -23.0,
    true_peak: float = -1.0,
) -> ExportResult:
    """Write the soundtrack's files into ``out_dir`` (see the module docstring for the list).

    ``mix`` and ``stems`` come from :func:`sfxkit.mix.mix_timeline`. ``video`` defaults to the
    timeline's video; the ``mp4`` format is skipped (and named in ``skipped``) when there is no
    readable video. Timecodes use ``timeline.fps``, else the video's frame rate, else 25.
    ``target_lufs``/``true_peak`` are what the mix was made for; the provenance records them
    beside what the mix measures.
    """
    from sfxkit.media.mux import mux_audio
    from sfxkit.mix import mix_stats

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown export format(s) {unknown}; use any of: {', '.join(FORMATS)}")
    x = np.asarray(mix, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != timeline.channels:
        raise InputError(
            f"mix has shape {x.shape}, the timeline wants ({timeline.channels}, samples); "
            "pass the mix returned by mix_timeline"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src_video = Path(video) if video is not None else Path(timeline.video)
    fps = _resolve_fps(timeline, src_video)
    name = title or (Path(timeline.video).stem or "sfxkit") + " sfx"
    sr = timeline.sample_rate
    by_cue = {s.cue_index: s for s in stems}
    stem_names = {i: f"stems/{s.name}" for i, s in by_cue.items()}
    skipped: list[str] = []
    files: dict[str, str] = {}

    stats = mix_stats(x, sr, target_lufs=target_lufs, ceiling_dbtp=true_peak)
    measured: dict[str, Any] = {
        "loudness": round(stats.loudness, 3),
        "loudness_kind": stats.loudness_kind,
        "target_lufs": target_lufs,
        "true_peak_dbtp": round(stats.true_peak_dbtp, 3),
        "ceiling_dbtp": true_peak,
    }

    mix_path: Path | None = None
    stem_paths: list[Path] = []
    if "wav" in formats:
        for stem in stems:
            stem_paths.append(write_wav(out / "stems" / stem.name, stem.audio, sr))
        _remove_stale(out / "stems", _STEM_FILE, {s.name for s in stems})
        mix_path = write_wav(out / "mix.wav", x, sr)
        files["mix"] = "mix.wav"
        files["stems"] = "stems/"

    csv_path = edl_path = otio_path = prov_path = tl_path = video_path = None
    if "csv" in formats:
        csv_path = write_text(out / "cues.csv", _csv_text(timeline, fps, stem_names))
        files["csv"] = csv_path.name
    if "edl" in formats:
        edl_path = write_text(out / "cues.edl", _edl_text(timeline, fps, by_cue, name))
        files["edl"] = edl_path.name
    if "otio" in formats:
        otio_path = write_text(out / "cues.otio", _otio_text(timeline, fps, by_cue, name))
        files["otio"] = otio_path.name
    if "mp4" in formats:
        if src_video.is_file():
            suffix = (
                src_video.suffix.lower() if src_video.suffix.lower() in _VIDEO_SUFFIXES else ".mkv"
            )
            video_path = mux_audio(
                src_video, x, out / f"{src_video.stem}_sfx{suffix}", sample_rate=sr
            )
            files["video"] = video_path.name
        else:
            skipped.append(f"mp4: no readable video at {src_video}; pass video=")
    if "json" in formats:
        tl_path = timeline.save(out)
        keep = {
            Path(cue.layer_name(j)).name for cue in timeline.cues for j in range(len(cue.layers))
        }
        _remove_stale(out / "layers", _LAYER_FILE, keep)
        files["timeline"] = tl_path.name
        prov_path = write_text(
            out / "provenance.json", _provenance(timeline, by_cue, measured, files)
        )

    return ExportResult(
        out_dir=out,
        mix=mix_path,
        stems=tuple(stem_paths),
        csv=csv_path,
        edl=edl_path,
        otio=otio_path,
        provenance=prov_path,
        timeline=tl_path,
        video=video_path,
        non_commercial=timeline.non_commercial,
        skipped=tuple(skipped),
        measured=measured,
    )


__all__ = ["FORMATS", "ExportResult", "export_all", "timecode"]
