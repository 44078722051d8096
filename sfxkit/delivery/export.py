"""Everything a soundtrack leaves on disk for an editor: clips, stems, mix, muxed video, cue sheets.

:func:`export_all` writes, from a :class:`~sfxkit.delivery.timeline.Timeline` and the output of
:func:`sfxkit.delivery.mix.mix_timeline`:

- ``clips/shot_003_retrieve.wav``: each cue's sound as a Broadcast WAV (24-bit, ``bext`` chunk
  whose TimeReference is the file's place on the timeline plus the start timecode, Description
  the track, the cue's role and its sounds by title and file, OriginatorReference the catalog
  file name), with
  ``handles`` seconds of extra material before and after the cue on spot effects (as much as
  the material has) and the crossfade lead-in/tail on the others;
- ``stems/BG.wav``, ``stems/FX.wav``, ``stems/GEN.wav``: full-length stems by type
  (backgrounds, spot effects, generated; see :func:`sfxkit.delivery.interchange.stem_type`) and
  ``mix.wav``, the whole track, all BWF starting at the start timecode; with ``channels="5.1"``
  also ``stems/BG_51.wav``... and ``mix_51.wav`` in SMPTE order (:mod:`sfxkit.delivery.surround`),
  the 5.1 mix levelled to the target with BS.1770's channel weights;
- ``<video>_sfx.mp4``: the video with the stereo mix muxed in, picture packets copied untouched;
- ``cues.aaf`` / ``cues.xml`` (FCP 7) / ``cues.otio``: one timeline, an audio track per stem type,
  clips linked to the files in ``clips/``, written by the OTIO adapters
  (:mod:`sfxkit.delivery.interchange`); a blend is two clips (its catalog share on BG or FX, its
  generated share on GEN), so every stem with content has its track; ``cues.edl``: CMX3600,
  drop-frame at 29.97/59.94, or where cues overlap (a layered soundtrack's spots over its bed)
  one EDL per track, ``cues_BG.edl``, ``cues_FX.edl``, ``cues_FX_2.edl``, ``cues_GEN.edl``;
- ``cues.csv``: a cue sheet (shot, times, timecodes, stem type, decision, reason, sources,
  their catalog titles and file names, licences, NON-COMMERCIAL flag);
- ``provenance.json``: where every sound came from (catalog source, or generator, model, seed),
  its licence and the decision behind it; plus ``timeline.json`` and ``layers/`` so the plan can
  be reloaded (:meth:`Timeline.load`).

Timecodes start at ``start_tc`` when given (the CLI's ``--start-tc``), else at the video's own
start timecode (:func:`sfxkit.delivery.timecode.start_timecode`), else at 00:00:00:00.

Sounds under a non-commercial licence (MMAudio's CC-BY-NC 4.0 weights make every generated sound
one) are flagged in every file. Every file is written atomically; a rerun into the same folder
replaces the files and removes clips, stems and layers this export no longer has.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sfxkit._atomic import atomic_write_text as write_text
from sfxkit._json import dumps, json_default
from sfxkit.delivery.mix import Stem
from sfxkit.delivery.timeline import (
    Cue,
    Timeline,
    layers_summary,
)
from sfxkit.errors import InputError, MediaError

FORMATS: tuple[str, ...] = ("wav", "csv", "edl", "otio", "aaf", "xml", "json", "mp4")
CHANNEL_LAYOUTS: tuple[str, ...] = ("2", "5.1")
DEFAULT_FPS = 25.0
DEFAULT_HANDLES = 1.0
NON_COMMERCIAL = "NON-COMMERCIAL"
NC_NOTICE = (
    "contains sounds under a non-commercial licence (e.g. generated with CC-BY-NC weights); "
    "do not use commercially without clearing them"
)
_CLIP_FILE = re.compile(r"^[^.].*\.wav$")  # clips/ is sfxkit's: any WAV but temp files
_STEM_FILE = re.compile(r"^(BG|FX|GEN)(_51)?\.wav$")
_EDL_FILE = re.compile(r"^cues(_(BG|FX|GEN)(_\d+)?)?\.edl$")
_LAYER_FILE = re.compile(r"^(shot|bed|spot)_\d{3,}_L\d+_(retrieved|generated)\.wav$")
_VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv"}


@dataclass(frozen=True)
class ExportResult:
    """Paths written by :func:`export_all` (``None`` for a format not asked for or skipped).

    ``clips`` are the per-cue files the AAF/XML/EDL/OTIO link to; ``stems`` the full-length
    stems by type (stereo, then 5.1 when asked). ``start_tc`` and ``fps`` are what the
    timecodes were written with.
    """

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
    clips: tuple[Path, ...] = ()
    aaf: Path | None = None
    xml: Path | None = None
    mix_51: Path | None = None
    start_tc: str = "00:00:00:00"
    fps: float = DEFAULT_FPS
    edls: tuple[Path, ...] = ()
    """Every EDL written: ``cues.edl``, or one per track where cues overlap (``edl`` is the
    first of them)."""


# ---- timecode ---------------------------------------------------------------------------------


def timecode(seconds: float, fps: float, start_tc: str | None = None) -> str:
    """SMPTE label of ``seconds`` into a timeline starting at ``start_tc`` (00:00:00:00 if None).

    Drop-frame (``HH:MM:SS;FF``) at 29.97/59.94 fps, non-drop otherwise
    (:mod:`sfxkit.delivery.timecode`).
    """
    from sfxkit.delivery.timecode import frames_to_timecode, timecode_to_frames

    tc0 = timecode_to_frames(start_tc, fps) if start_tc else 0
    return frames_to_timecode(tc0 + int(round(seconds * fps)), fps)


def _video_fps(video: Path | None) -> float | None:
    """The rate the video's frames are timed at (:func:`sfxkit.media.frames.video_timing`, as shots
    and the mux time them; a container's average rate can lie), or None when it is unreadable."""
    if video is None or not video.is_file():
        return None
    from sfxkit.media.frames import video_timing

    try:
        return float(video_timing(video).fps)
    except MediaError:
        return None  # timecodes fall back to 25 fps; the mux step reports an unreadable video


def _resolve_fps(timeline: Timeline, video: Path | None) -> float:
    if timeline.fps:
        return float(timeline.fps)
    return _video_fps(video) or DEFAULT_FPS


def resolve_start_tc(start_tc: str | None, video: Path | None, fps: float) -> str:
    """The timeline's start timecode: ``start_tc`` if given, else the video's, else zero; in
    the canonical form for ``fps`` (an ``InputError`` names a label that cannot exist)."""
    from sfxkit.delivery.timecode import frames_to_timecode, normalize_timecode, start_timecode

    tc = start_tc
    if tc is None and video is not None and video.is_file():
        tc = start_timecode(video)
    if not tc:
        return frames_to_timecode(0, fps)
    try:
        return normalize_timecode(tc, fps)
    except InputError as exc:
        where = "--start-tc" if start_tc is not None else f"the timecode of {video}"
        raise InputError(f"{where}: {exc}") from exc


def check_delivery(
    video: str | Path | None,
    *,
    start_tc: str | None = None,
    handles: float = DEFAULT_HANDLES,
    channels: str | int = 2,
    formats: Sequence[str] = FORMATS,
) -> None:
    """Refuse delivery options that :func:`export_all` would refuse, before any work is done
    (the CLI calls it first): unknown formats or layouts, negative handles, a start timecode that
    does not exist at the video's frame rate."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown export format(s) {unknown}; use any of: {', '.join(FORMATS)}")
    _layout(channels)
    if not (handles >= 0):
        raise InputError(f"--handles must be >= 0 seconds, got {handles}")
    if start_tc is not None:
        fps = _video_fps(Path(video) if video is not None else None) or DEFAULT_FPS
        resolve_start_tc(start_tc, None, fps)


# ---- per-cue facts ----------------------------------------------------------------------------


def _catalog_names(cue: Cue, kind: str | None = None) -> list[tuple[str, str]]:
    """``(title, file name)`` of each of a cue's sounds (``kind``: only ``retrieved`` or
    ``generated`` layers): a catalog sound by its title and file, generated material by its
    generator and seed (no file)."""
    names = []
    for layer in cue.layers:
        if kind is not None and layer.kind != kind:
            continue
        src = layer.source
        if layer.kind == "generated":
            gen = src.get("generator") or src.get("model") or "generator"
            seed = src.get("seed")
            names.append((f"{gen}" + (f" seed={seed}" if seed is not None else ""), ""))
        else:
            path = str(src.get("path") or "")
            file = Path(path).name if path else ""
            title = str(src.get("title") or "") or (Path(file).stem if file else "")
            names.append((title or str(src.get("id") or "catalog"), file))
    return names


def _sources(cue: Cue, kind: str | None = None) -> str:
    """A cue's sounds for people: ``Door knock (door_knock.wav)``, ``mmaudio:large seed=7``."""
    return "; ".join(f"{t} ({f})" if f and f != t else t for t, f in _catalog_names(cue, kind))


def _licences(cue: Cue, kind: str | None = None) -> str:
    return "; ".join(
        layer.licence or "unknown" for layer in cue.layers if kind is None or layer.kind == kind
    )


def cue_role(cue: Cue, roles: Mapping[int, str] | None = None) -> str:
    """A cue's role (``bed``/``spot``/``shot``): ``roles[cue.index]``, else the cue's own
    ``role`` attribute where the timeline has layers, else ``shot`` (one sound per shot)."""
    if roles and cue.index in roles:
        return roles[cue.index]
    return str(getattr(cue, "role", "shot") or "shot")


def cue_stem_type(cue: Cue, roles: Mapping[int, str] | None = None) -> str:
    """The stem a cue is delivered in (:func:`sfxkit.delivery.interchange.stem_type`)."""
    from sfxkit.delivery.interchange import stem_type

    generated = any(layer.kind == "generated" for layer in cue.layers)
    return stem_type(cue_role(cue, roles), generated=generated)


def _screen_x(cue: Cue, positions: Mapping[int, float] | None) -> float | None:
    if positions and cue.index in positions:
        return float(positions[cue.index])
    x = getattr(cue, "screen_x", None)
    if x is None:
        x = cue.numbers.get("screen_x")
    return None if x is None else float(x)


def _cue_metadata(cue: Cue, stem_name: str, role: str = "shot", kind: str = "") -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "shot": cue.index,
                "role": role,
                "stem_type": kind,
                "scene": getattr(cue, "scene", None),
                "shots": list(getattr(cue, "shots", ()) or ()),
                "decision": cue.decision,
                "reason": cue.reason,
                "numbers": cue.numbers,
                "source": _sources(cue),
                "licence": _licences(cue),
                "non_commercial": cue.non_commercial,
                "stem": stem_name,
                "layers": layers_summary(cue.layers),
            },
            default=json_default,
        )
    )


def _comments(cue: Cue, role: str, kind: str | None = None) -> dict[str, str]:
    """What an editor reads on the clip: AAF user comments, EDL comment lines (``kind``: of the
    cue's ``retrieved`` or ``generated`` share only, for a blend delivered as two clips)."""
    out = {
        "Source": _sources(cue, kind) or "none",
        "Licence": _licences(cue, kind) or "none",
        "Decision": cue.decision,
        "Role": role,
    }
    if any(layer.non_commercial for layer in cue.layers if kind is None or layer.kind == kind):
        out[NON_COMMERCIAL] = NC_NOTICE
    return out


def clip_with_handles(
    audio: np.ndarray,
    *,
    head: int,
    cue_samples: int,
    handle: int,
    max_before: int | None = None,
) -> tuple[np.ndarray, int]:
    """A cue's file content: its ``cue_samples`` plus up to ``handle`` samples each side.

    ``audio`` is the cue's material, whose cue starts at sample ``head`` (material before it is
    lead-in, material after ``head + cue_samples`` is tail). Handles take what the material has,
    and no more than ``max_before`` samples before the cue (the video's start); material that
    ends inside the cue is padded with silence to the cue's end. Returns
    ``(clip, before)``: the audio to write and how many of its samples come before the cue.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if head < 0 or cue_samples <= 0 or handle < 0:
        raise InputError(
            f"clip_with_handles needs head >= 0, cue_samples > 0 and handle >= 0, got "
            f"{head}, {cue_samples}, {handle}"
        )
    before = min(handle, head, max_before if max_before is not None else head)
    end = min(x.shape[1], head + cue_samples + handle)
    clip = x[:, head - before : end]
    short = before + cue_samples - clip.shape[1]
    if short > 0:
        # Material that ends inside the cue: the file still covers the cue, in silence.
        clip = np.concatenate([clip, np.zeros((x.shape[0], short), np.float32)], axis=1)
    return np.ascontiguousarray(clip), before


def _csv_text(
    timeline: Timeline,
    fps: float,
    start_tc: str,
    clip_names: dict[int, str],
    kinds: dict[int, str],
    roles: dict[int, str],
) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "shot",
            "start",
            "end",
            "start_tc",
            "end_tc",
            "role",
            "stem_type",
            "decision",
            "reason",
            "sources",
            "source_titles",
            "source_files",
            "licence",
            "non_commercial",
            "clip",
        ]
    )
    for cue in timeline.cues:
        w.writerow(
            [
                cue.index,
                f"{cue.start:.6f}",
                f"{cue.end:.6f}",
                timecode(cue.start, fps, start_tc),
                timecode(cue.end, fps, start_tc),
                roles.get(cue.index, cue_role(cue)),
                kinds.get(cue.index, ""),
                cue.decision,
                cue.reason,
                _sources(cue),
                "; ".join(t for t, _ in _catalog_names(cue)),
                "; ".join(f for _, f in _catalog_names(cue) if f),
                _licences(cue),
                NON_COMMERCIAL if cue.non_commercial else "",
                clip_names.get(cue.index, ""),
            ]
        )
    return buf.getvalue()


def _provenance(
    timeline: Timeline,
    clip_names: dict[int, str],
    kinds: dict[int, str],
    roles: dict[int, str],
    measured: dict[str, Any] | None,
    files: dict[str, Any],
    start_tc: str,
    fps: float,
) -> str:
    from sfxkit._version import __version__

    doc = {
        "sfxkit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "video": timeline.video,
        "duration": timeline.duration,
        "sample_rate": timeline.sample_rate,
        "channels": timeline.channels,
        "fps": fps,
        "start_tc": start_tc,
        "non_commercial": timeline.non_commercial,
        "notice": NC_NOTICE if timeline.non_commercial else "",
        "mix": measured or {},
        "files": files,
        "cues": [
            {
                "start": cue.start,
                "end": cue.end,
                **_cue_metadata(
                    cue,
                    clip_names.get(cue.index, ""),
                    roles.get(cue.index, "shot"),
                    kinds.get(cue.index, ""),
                ),
            }
            for cue in timeline.cues
        ],
    }
    return dumps(doc)


def _remove_stale(folder: Path, pattern: re.Pattern[str], keep: set[str]) -> None:
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.is_file() and pattern.match(p.name) and p.name not in keep:
            p.unlink()


def _layout(channels: str | int) -> str:
    value = str(channels).strip().lower()
    if value in ("2", "stereo"):
        return "2"
    if value in ("5.1", "51", "6"):
        return "5.1"
    raise InputError(f"unknown channel layout {channels!r}; use 2 (stereo) or 5.1")


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
    start_tc: str | None = None,
    handles: float = DEFAULT_HANDLES,
    channels: str | int = 2,
    roles: Mapping[int, str] | None = None,
    positions: Mapping[int, float] | None = None,
    material: Mapping[int, tuple[np.ndarray, int]] | None = None,
) -> ExportResult:
    """Write the soundtrack's files into ``out_dir`` (see the module docstring for the list).

    ``mix`` and ``stems`` come from :func:`sfxkit.delivery.mix.mix_timeline` (one :class:`Stem` per
    sounding cue, overlapping cues allowed). ``video`` defaults to the timeline's video; the
    ``mp4`` format is skipped (and named in ``skipped``) when there is no readable video.
    Timecodes use ``timeline.fps``, else the video's frame rate, else 25, and start at
    ``start_tc`` (see :func:`resolve_start_tc`). ``handles`` seconds of extra material go before
    and after each spot-effect clip, as far as the material reaches: a cue's material is its
    stem, or ``material[cue.index] = (audio, head)`` (audio at the timeline's rate whose cue
    starts at sample ``head``) where the caller kept more. ``channels="5.1"`` adds 5.1 stems
    and mix; ``roles`` (cue index -> bed/spot/shot, default each cue's ``role`` or ``shot``) and
    ``positions`` (cue index -> screen x in [-1, 1], default the cue's ``screen_x``) place them.
    ``target_lufs``/``true_peak`` are what the mix was made for; the provenance records them
    beside what the mix measures.
    """
    from sfxkit.delivery.bwf import time_reference, write_bwf
    from sfxkit.delivery.interchange import TRACK_NAMES, DeliveredClip, build_otio, edl_files
    from sfxkit.delivery.interchange import write_interchange as _write_interchange
    from sfxkit.delivery.mix import mix_stats
    from sfxkit.media.mux import mux_audio

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown export format(s) {unknown}; use any of: {', '.join(FORMATS)}")
    layout = _layout(channels)
    if not (handles >= 0):
        raise InputError(f"handles must be >= 0 seconds, got {handles}")
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
    tc = resolve_start_tc(start_tc, src_video, fps)
    name = title or (Path(timeline.video).stem or "sfxkit") + " sfx"
    sr = timeline.sample_rate
    total = x.shape[1]
    cues = {c.index: c for c in timeline.cues}
    placed = [s for s in stems if s.cue_index in cues]
    role_of = {i: cue_role(c, roles) for i, c in cues.items()}
    kind_of = {i: cue_stem_type(c, roles) for i, c in cues.items()}
    clip_names: dict[int, str] = {}  # cue index -> its clip files, "; "-joined
    clip_kinds: dict[int, list[str]] = {}  # cue index -> the stem types of its clips
    skipped: list[str] = []
    files: dict[str, Any] = {}

    stats = mix_stats(x, sr, target_lufs=target_lufs, ceiling_dbtp=true_peak)
    measured: dict[str, Any] = {
        "loudness": round(stats.loudness, 3),
        "loudness_kind": stats.loudness_kind,
        "target_lufs": target_lufs,
        "true_peak_dbtp": round(stats.true_peak_dbtp, 3),
        "ceiling_dbtp": true_peak,
    }

    def bwf(path: Path, audio: np.ndarray, position: float, description: str, ref: str) -> Path:
        return write_bwf(
            path,
            audio,
            sr,
            time_reference=time_reference(position, sr, start_tc=tc, fps=fps),
            description=description,
            originator_reference=ref[:32],
        )

    # Per-cue clips: what the interchange files link to, spot effects with their handles.
    delivered: list[DeliveredClip] = []
    clip_paths: list[Path] = []
    handle_n = int(round(handles * sr))
    for stem in placed:
        cue = cues[stem.cue_index]
        role = role_of[cue.index]
        cue_n = max(1, int(round(cue.end * sr)) - int(round(cue.start * sr)))
        start_n = int(round(cue.start * sr))
        for kind, audio, head, suffix, layer_kind in _clip_parts(stem, cue, roles, material):
            if kind == "spot":
                audio, head = clip_with_handles(
                    audio, head=head, cue_samples=cue_n, handle=handle_n, max_before=start_n
                )
            else:
                # Beds and generated sounds keep the lead-in and tail the mix gave them.
                head = min(head, start_n)
            clip_audio = np.asarray(audio, dtype=np.float32)
            position = cue.start - head / sr
            file_name = stem.name if not suffix else f"{Path(stem.name).stem}{suffix}.wav"
            rel = f"clips/{file_name}"
            names = _catalog_names(cue, layer_kind)
            if "wav" in formats:
                clip_paths.append(
                    bwf(
                        out / rel,
                        clip_audio,
                        position,
                        _bext_description(cue, role, kind, layer_kind, fps, tc),
                        next((f for _, f in names if f), "")
                        or f"sfxkit {Path(timeline.video).stem[:16]} {cue.index}",
                    )
                )
            clip_names[cue.index] = "; ".join(x for x in (clip_names.get(cue.index, ""), rel) if x)
            meta = _cue_metadata(cue, rel, role, kind)
            comments = _comments(cue, role, layer_kind)
            if layer_kind is not None:
                meta.update(
                    share=layer_kind,
                    source=_sources(cue, layer_kind),
                    licence=_licences(cue, layer_kind),
                    non_commercial=NON_COMMERCIAL in comments,
                )
            clip_kinds.setdefault(cue.index, []).append(kind)
            delivered.append(
                DeliveredClip(
                    name=file_name,
                    stem_type=kind,
                    path=rel,
                    start=cue.start,
                    duration=cue.duration,
                    handle_before=head / sr,
                    file_duration=clip_audio.shape[1] / sr,
                    channels=int(clip_audio.shape[0]),
                    sample_rate=sr,
                    metadata=meta,
                    comments=comments,
                    sources=tuple(names),
                )
            )

    mix_path: Path | None = None
    mix51_path: Path | None = None
    stem_paths: list[Path] = []
    if "wav" in formats:
        _remove_stale(out / "clips", _CLIP_FILE, {Path(c.path).name for c in delivered})
        kinds_present = [k for k in TRACK_NAMES if any(kind_of[s.cue_index] == k for s in placed)]
        buses = {k: np.zeros((timeline.channels, total), np.float32) for k in kinds_present}
        for stem in placed:
            for k, audio in _shares(stem, cues[stem.cue_index], roles):
                _add(
                    buses.setdefault(k, np.zeros((timeline.channels, total), np.float32)),
                    audio,
                    stem.offset,
                )
        written_stems: set[str] = set()
        for k, bus in buses.items():
            fname = f"{TRACK_NAMES[k]}.wav"
            stem_paths.append(bwf(out / "stems" / fname, bus, 0.0, f"{k} stem", f"sfxkit {k}"))
            written_stems.add(fname)
        mix_path = bwf(out / "mix.wav", x, 0.0, f"{name} mix", "sfxkit mix")
        files["mix"] = "mix.wav"
        files["clips"] = "clips/"
        files["stems"] = {k: f"stems/{TRACK_NAMES[k]}.wav" for k in buses}
        if layout == "5.1":
            mix51, buses51, m51 = render_51(
                placed,
                {i: role_of[i] for i in cues},
                {i: _screen_x(c, positions) for i, c in cues.items()},
                {i: kind_of[i] for i in cues},
                total,
                sr,
                target_lufs=target_lufs,
                true_peak=true_peak,
                shares={s.cue_index: _shares(s, cues[s.cue_index], roles) for s in placed},
            )
            for k, bus in buses51.items():
                fname = f"{TRACK_NAMES[k]}_51.wav"
                stem_paths.append(
                    bwf(out / "stems" / fname, bus, 0.0, f"{k} stem 5.1", f"sfxkit {k} 5.1")
                )
                written_stems.add(fname)
            mix51_path = bwf(out / "mix_51.wav", mix51, 0.0, f"{name} mix 5.1", "sfxkit mix 5.1")
            files["mix_51"] = "mix_51.wav"
            measured["mix_51"] = m51
        _remove_stale(out / "stems", _STEM_FILE, written_stems)

    csv_path = edl_path = otio_path = aaf_path = xml_path = None
    prov_path = tl_path = video_path = None
    if "csv" in formats:
        csv_path = write_text(
            out / "cues.csv",
            _csv_text(
                timeline,
                fps,
                tc,
                clip_names,
                {**kind_of, **{i: "; ".join(k) for i, k in clip_kinds.items()}},
                role_of,
            ),
        )
        files["csv"] = csv_path.name
    edl_paths: list[Path] = []
    if "edl" in formats:
        texts = edl_files(delivered, fps=fps, start_tc=tc, title=name, channels=timeline.channels)
        edl_paths = [write_text(out / fname, text) for fname, text in texts.items()]
        _remove_stale(out, _EDL_FILE, set(texts))
        edl_path = edl_paths[0]
        files["edl"] = edl_path.name
        files["edls"] = [p.name for p in edl_paths]
    meta = {
        "video": timeline.video,
        "sample_rate": sr,
        "channels": layout,
        "start_tc": tc,
        "non_commercial": timeline.non_commercial,
    }
    if "otio" in formats:
        # .otio keeps paths relative to the folder, so the folder can move as a whole.
        written = _write_interchange(
            build_otio(delivered, fps=fps, start_tc=tc, title=name, metadata=meta), out, ["otio"]
        )
        otio_path = written.get("otio")
    wanted = [f for f in ("aaf", "xml") if f in formats]
    if wanted:
        # DAWs relink AAF and XML media by absolute file URL.
        tl_abs = build_otio(
            delivered, fps=fps, start_tc=tc, title=name, base_url=out, metadata=meta
        )
        written = _write_interchange(tl_abs, out, wanted)
        aaf_path, xml_path = written.get("aaf"), written.get("xml")
    for key, path in (("otio", otio_path), ("aaf", aaf_path), ("xml", xml_path)):
        if path is not None:
            files[key] = path.name
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
            out / "provenance.json",
            _provenance(timeline, clip_names, kind_of, role_of, measured, files, tc, fps),
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
        clips=tuple(clip_paths),
        aaf=aaf_path,
        xml=xml_path,
        mix_51=mix51_path,
        start_tc=tc,
        fps=fps,
        edls=tuple(edl_paths),
    )


def _clip_parts(
    stem: Stem,
    cue: Cue,
    roles: Mapping[int, str] | None,
    material: Mapping[int, tuple[np.ndarray, int]] | None,
) -> list[tuple[str, np.ndarray, int, str, str | None]]:
    """The clip files a cue is delivered as: ``[(stem type, audio, head, file suffix, layer
    kind), ...]``. A blend with both shares sounding is two clips, as its stems are (its catalog
    share on its role's track, ``_BG``/``_FX``; its generated share on GEN, ``_GEN``), so the
    timelines have a BG track whenever ``stems/BG.wav`` has beds; any other cue is one clip of
    its material (``material[cue.index]``, else the stem's own, else its audio)."""
    from sfxkit.delivery.interchange import TRACK_NAMES

    parts = getattr(stem, "by_kind", None) or {}
    shares = _shares(stem, cue, roles)
    if len(shares) == 2 and all(float(np.max(np.abs(a), initial=0.0)) > 0 for _, a in shares):
        kinds = ("retrieved", "generated")
        return [
            (k, parts[lk], stem.head, f"_{TRACK_NAMES[k]}", lk)
            for (k, _), lk in zip(shares, kinds, strict=True)
        ]
    own = (stem.material, 0) if stem.material is not None else (stem.audio, stem.head)
    audio, head = (material or {}).get(cue.index, own)
    return [(cue_stem_type(cue, roles), audio, head, "", None)]


def _bext_description(
    cue: Cue, role: str, kind: str, layer_kind: str | None, fps: float, start_tc: str
) -> str:
    """A clip's bext Description: its track, what the cue is (a bed of which scene and shots, a
    spot on which event, a shot's sound) and its sounds by title and file."""
    from sfxkit.delivery.interchange import TRACK_NAMES

    if role == "bed":
        shots = list(getattr(cue, "shots", ()) or ())
        what = f"bed for scene {getattr(cue, 'scene', None)}" + (
            f" (shots {shots[0]}-{shots[-1]})"
            if len(shots) > 1
            else f" (shot {shots[0]})"
            if shots
            else ""
        )
    elif role == "spot":
        at = cue.numbers.get("onset", cue.start)
        what = f"spot on the event at {timecode(float(at), fps, start_tc)}"
    else:
        what = f"shot {cue.index}"
    return f"{TRACK_NAMES[kind]} {what} {cue.decision}: {_sources(cue, layer_kind) or 'none'}"


def _shares(stem: Stem, cue: Cue, roles: Mapping[int, str] | None) -> list[tuple[str, np.ndarray]]:
    """A cue's stem split by stem type: a blend's catalog share goes to its role's stem and its
    generated share to the generated stem (``Stem.by_kind``, which sums to the stem); any other
    cue goes whole to :func:`cue_stem_type`'s stem."""
    from sfxkit.delivery.interchange import stem_type

    parts = getattr(stem, "by_kind", None) or {}
    if parts.get("retrieved") is not None and parts.get("generated") is not None:
        role = cue_role(cue, roles)
        return [
            (stem_type(role, generated=False), parts["retrieved"]),
            (stem_type(role, generated=True), parts["generated"]),
        ]
    return [(cue_stem_type(cue, roles), stem.audio)]


def _add(bus: np.ndarray, audio: np.ndarray, offset: int) -> None:
    """Add ``audio`` into ``bus`` from sample ``offset``, clipped to the bus."""
    a = np.asarray(audio, dtype=np.float32)
    start = max(0, offset)
    end = min(bus.shape[1], offset + a.shape[1])
    if end > start:
        bus[:, start:end] += a[:, start - offset : end - offset]


def render_51(
    stems: Sequence[Stem],
    roles: Mapping[int, str],
    positions: Mapping[int, float | None],
    kinds: Mapping[int, str],
    total: int,
    sample_rate: int,
    *,
    target_lufs: float = -23.0,
    true_peak: float = -1.0,
    shares: Mapping[int, Sequence[tuple[str, np.ndarray]]] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """The 5.1 mix and 5.1 stems by type from per-cue stems.

    Each stem is placed by its cue's role (:func:`sfxkit.delivery.surround.place_51`; ``positions``
    give spot effects their screen x), summed per stem type, and the sum is levelled to
    ``target_lufs`` with BS.1770's 5.1 weights and limited to ``true_peak`` dBTP. The stems get
    the same gain as the mix (before its limiter), so they add up to it. ``shares`` splits a
    cue's stem across stem types (a blend's catalog and generated parts). Returns
    ``(mix, stems_by_type, measured)``.
    """
    from sfxkit.delivery.mix import limit_true_peak
    from sfxkit.delivery.surround import place_51
    from sfxkit.media.loudness import gain_to, integrated_loudness, true_peak_dbtp

    buses: dict[str, np.ndarray] = {}
    for stem in stems:
        i = stem.cue_index
        for kind, audio in (shares or {}).get(i, [(kinds[i], stem.audio)]):
            bus = buses.setdefault(kind, np.zeros((6, total), np.float32))
            _add(bus, place_51(audio, roles.get(i, "shot"), x=positions.get(i)), stem.offset)
    raw = np.zeros((6, total), np.float32)
    for bus in buses.values():
        raw += bus
    gain = np.float32(gain_to(raw, sample_rate, target_lufs)) if raw.any() else np.float32(1)
    mix = limit_true_peak(raw * gain, sample_rate, true_peak)
    measured = {
        "loudness": integrated_loudness(mix, sample_rate),
        "true_peak_dbtp": round(true_peak_dbtp(mix, sample_rate), 3),
        "layout": "L R C LFE Ls Rs",
    }
    return mix, {k: b * gain for k, b in buses.items()}, measured


__all__ = [
    "CHANNEL_LAYOUTS",
    "check_delivery",
    "FORMATS",
    "ExportResult",
    "clip_with_handles",
    "cue_role",
    "cue_stem_type",
    "export_all",
    "render_51",
    "resolve_start_tc",
    "timecode",
]
