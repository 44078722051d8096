"""The soundtrack as an editor imports it: one OTIO timeline written as AAF, FCP 7 XML, .otio and
CMX3600 EDLs (one per track where cues overlap).

:func:`build_otio` turns the delivered clip files (:class:`DeliveredClip`, one per cue, each a
Broadcast WAV with handles) into an OpenTimelineIO timeline: one audio track per stem type (BG
backgrounds, FX spot effects, GEN generated sounds; a type's overlapping clips on further tracks,
``FX 2``..., :func:`track_lanes`), clips named after their files, each linked
to its file with its available range (handles included) and carrying sfxkit's metadata (source,
licence, NON-COMMERCIAL, decision, reason); the timeline starts at the video's start timecode.
Source times are the files' own timecode (their BWF TimeReference), so a clip sitting where it
was cut has source in = record in.

:func:`write_interchange` hands that timeline to the adapters: ``AAF`` (otio-aaf-adapter over
pyaaf2; the metadata becomes AAF user comments on each master mob), ``fcp_xml`` and
``otio_json``. One thing is fixed after the AAF adapter: it always marks the composition
timecode non-drop, so at 29.97/59.94 the written file is reopened with pyaaf2 and marked
drop-frame.

The EDL is written by :func:`edl_text` (one track; :func:`edl_files` writes one EDL per track of
:func:`track_lanes` when cues overlap, as a layered soundtrack's bed and spots do), not the ``cmx_3600`` adapter: that adapter writes only
the first track of a timeline with exactly one *video* track (sound events come out as ``V``),
ignores the timeline's start timecode in record times and writes no ``FCM`` line. Its reader is
fine and the tests read every EDL with it; a test also shows its writer gives the same source and
record timecodes as :func:`edl_text` on a video track starting at 00:00:00:00.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfxkit.delivery.timecode import frames_to_timecode, is_drop_frame_rate, timecode_to_frames
from sfxkit.errors import InputError

STEM_TYPES: tuple[str, ...] = ("backgrounds", "spot", "generated")
TRACK_NAMES: Mapping[str, str] = {"backgrounds": "BG", "spot": "FX", "generated": "GEN"}
INTERCHANGE_FORMATS: Mapping[str, tuple[str, str]] = {
    # format name -> (OTIO adapter, file suffix)
    "aaf": ("AAF", ".aaf"),
    "xml": ("fcp_xml", ".xml"),
    "otio": ("otio_json", ".otio"),
}
NON_COMMERCIAL = "NON-COMMERCIAL"


def stem_type(role: str = "shot", *, generated: bool = False) -> str:
    """Which stem a cue's sound is delivered in.

    Anything with generated material goes to ``generated`` (MMAudio's weights make it
    non-commercial: one stem to mute or replace before a commercial release); otherwise an
    ambience bed goes to ``backgrounds``, and spot effects and per-shot sounds to ``spot``.
    """
    if generated:
        return "generated"
    if role == "bed":
        return "backgrounds"
    if role in ("spot", "shot"):
        return "spot"
    raise InputError(f"unknown cue role {role!r}; use one of: bed, spot, shot")


@dataclass(frozen=True)
class DeliveredClip:
    """One cue's sound as a delivered file.

    ``start``/``duration``: where the cue sits on the video timeline (seconds). ``path``: the
    file, relative to the delivery folder. The file holds ``handle_before`` seconds of material
    before the cue and lasts ``file_duration`` seconds in all. ``metadata`` is sfxkit's (source,
    licence, non_commercial, decision, reason, role); ``comments`` are the short strings an
    editor sees (AAF user comments, EDL comment lines).
    """

    name: str
    stem_type: str
    path: str
    start: float
    duration: float
    handle_before: float
    file_duration: float
    channels: int = 2
    sample_rate: int = 48_000
    bits: int = 24
    metadata: Mapping[str, Any] = field(default_factory=dict)
    comments: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[tuple[str, str], ...] = ()
    """``(title, file name)`` of each catalog sound in the clip (file name empty for generated
    material, whose title names the generator): what an assistant editor looks sounds up by."""

    def __post_init__(self) -> None:
        if self.stem_type not in STEM_TYPES:
            raise InputError(
                f"unknown stem type {self.stem_type!r}; use one of: {', '.join(STEM_TYPES)}"
            )
        if self.duration <= 0 or self.handle_before < 0:
            raise InputError(f"clip {self.name}: needs duration > 0 and handle_before >= 0")

    @property
    def non_commercial(self) -> bool:
        return bool(self.metadata.get("non_commercial"))


def _frames(clip: DeliveredClip, fps: float, tc0: int) -> tuple[int, int, int, int, int]:
    """(record in, record out, source in, file first frame, file length) in frames; record times
    are timeline frames from 0, source times are timecode frames (start timecode included)."""
    rec_in = int(round(clip.start * fps))
    rec_out = max(rec_in + 1, int(round((clip.start + clip.duration) * fps)))
    handle = int(round(clip.handle_before * fps))
    file_in = tc0 + rec_in - handle
    if file_in < 0:
        raise InputError(
            f"clip {clip.name}: its {clip.handle_before:.3f} s handle starts before timecode "
            "00:00:00:00; shorten the handle or give a later start timecode"
        )
    file_len = max(rec_out - rec_in + handle, int(round(clip.file_duration * fps)))
    return rec_in, rec_out, tc0 + rec_in, file_in, file_len


def _start_frames(start_tc: str | None, fps: float) -> int:
    return timecode_to_frames(start_tc, fps) if start_tc else 0


def track_lanes(
    clips: Sequence[DeliveredClip], *, fps: float, start_tc: str | None = None
) -> list[tuple[str, list[DeliveredClip]]]:
    """``[(track name, clips in record order), ...]``: one track per stem type present, in
    :data:`STEM_TYPES` order, and clips of one type that overlap in record time on further
    tracks of that type (``FX 2``...), so no track has two clips at once."""
    tc0 = _start_frames(start_tc, fps)
    out: list[tuple[str, list[DeliveredClip]]] = []
    for kind in STEM_TYPES:
        lanes: list[tuple[list[DeliveredClip], int]] = []  # (clips, cursor in frames)
        for clip in sorted((c for c in clips if c.stem_type == kind), key=lambda c: c.start):
            rec_in, rec_out, *_ = _frames(clip, fps, tc0)
            lane = next((i for i, (_, cur) in enumerate(lanes) if cur <= rec_in), None)
            if lane is None:
                lanes.append(([], 0))
                lane = len(lanes) - 1
            lanes[lane][0].append(clip)
            lanes[lane] = (lanes[lane][0], rec_out)
        for n, (members, _) in enumerate(lanes, start=1):
            out.append((TRACK_NAMES[kind] + ("" if n == 1 else f" {n}"), members))
    return out


def build_otio(
    clips: Sequence[DeliveredClip],
    *,
    fps: float,
    start_tc: str | None = None,
    title: str = "sfxkit",
    base_url: str | Path | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """An ``otio.schema.Timeline`` of ``clips``: one audio track per stem type present, in
    :data:`STEM_TYPES` order, gaps between clips, global start time = ``start_tc``.

    ``base_url``: a folder the clips' relative paths are joined to for the media references
    (an AAF needs absolute ``file://`` URLs to relink); None keeps the relative paths.
    Clips of one type that overlap in time go to further tracks of that type (``FX 2``...).
    """
    import opentimelineio as otio

    tc0 = _start_frames(start_tc, fps)

    def rt(frames: int) -> Any:
        return otio.opentime.RationalTime(frames, fps)

    def tr(start: int, length: int) -> Any:
        return otio.opentime.TimeRange(start_time=rt(start), duration=rt(length))

    tl = otio.schema.Timeline(name=title)
    tl.global_start_time = rt(tc0)
    # The FCP XML adapter labels timecode drop-frame only when told to.
    fcp_tc = {"timecode": {"displayformat": "DF" if is_drop_frame_rate(fps) else "NDF"}}
    tl.metadata["fcp_xml"] = dict(fcp_tc)
    if metadata:
        tl.metadata["sfxkit"] = dict(metadata)
    for name, members in track_lanes(clips, fps=fps, start_tc=start_tc):
        track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
        tl.tracks.append(track)
        cursor = 0
        for clip in members:
            rec_in, rec_out, src_in, file_in, file_len = _frames(clip, fps, tc0)
            if rec_in > cursor:
                track.append(otio.schema.Gap(source_range=tr(0, rec_in - cursor)))
            url = clip.path
            if base_url is not None:
                url = (Path(base_url) / clip.path).resolve().as_uri()
            ref = otio.schema.ExternalReference(
                target_url=url, available_range=tr(file_in, file_len)
            )
            block = clip.channels * clip.bits // 8
            ref.metadata["fcp_xml"] = dict(fcp_tc)
            ref.metadata["AAF"] = {
                "EssenceDescription": {
                    "SampleRate": clip.sample_rate,
                    "AudioSamplingRate": clip.sample_rate,
                    "QuantizationBits": clip.bits,
                    "Channels": clip.channels,
                    "BlockAlign": block,
                    "AverageBPS": clip.sample_rate * block,
                    "Length": int(round(clip.file_duration * clip.sample_rate)),
                }
            }
            item = otio.schema.Clip(
                name=clip.name, media_reference=ref, source_range=tr(src_in, rec_out - rec_in)
            )
            item.metadata["sfxkit"] = dict(clip.metadata)
            item.metadata["AAF"] = {"UserComments": dict(clip.comments)}
            # FCP 7 clip items have four free "master comment" fields; editors see them in bins.
            # The NON-COMMERCIAL flag goes first so it is never the one left out.
            texts = [
                f"{k}: {v}"
                for k, v in sorted(clip.comments.items(), key=lambda kv: kv[0] != NON_COMMERCIAL)
            ]
            item.metadata["fcp_xml"] = {
                "comments": {f"mastercomment{i + 1}": t for i, t in enumerate(texts[:4])}
            }
            if clip.sources:
                item.metadata["sfxkit"]["catalog"] = [
                    {"title": t, "file": f} for t, f in clip.sources
                ]
            track.append(item)
            cursor = rec_out
    return tl


def write_interchange(
    timeline: Any, out_dir: str | Path, formats: Sequence[str], *, name: str = "cues"
) -> dict[str, Path]:
    """Write ``timeline`` (from :func:`build_otio`) as ``name.aaf``/``.xml``/``.otio``, atomically.

    Returns the paths by format. An AAF at 29.97/59.94 is marked drop-frame (see module doc).
    """
    import opentimelineio as otio

    from sfxkit._atomic import atomic_file

    unknown = [f for f in formats if f not in INTERCHANGE_FORMATS]
    if unknown:
        raise InputError(
            f"unknown interchange format(s) {unknown}; use any of: {', '.join(INTERCHANGE_FORMATS)}"
        )
    out = Path(out_dir)
    written: dict[str, Path] = {}
    if not len(timeline.tracks):
        return written  # nothing sounds: the adapters cannot write an empty timeline
    for fmt in formats:
        adapter, suffix = INTERCHANGE_FORMATS[fmt]
        path = out / f"{name}{suffix}"
        if fmt == "aaf":
            _write_aaf(timeline, path, adapter)
            written[fmt] = path
        else:
            text = otio.adapters.write_to_string(timeline, adapter)
            with atomic_file(path) as fh:
                fh.write(text.encode("utf-8"))
            written[fmt] = path
    return written


def _write_aaf(timeline: Any, path: Path, adapter: str) -> None:
    """The AAF adapter at ``path``, atomically (pyaaf2 writes by file name)."""
    import opentimelineio as otio

    from sfxkit._atomic import atomic_path

    with atomic_path(path) as tmp:
        otio.adapters.write_to_file(
            timeline, str(tmp), adapter_name=adapter, use_empty_mob_ids=True
        )
        _mark_drop_frame(str(tmp), timeline)


def _mark_drop_frame(path: str, timeline: Any) -> None:
    """Mark the composition's timecode drop-frame when the timeline's rate is 29.97/59.94."""
    rate = float(timeline.global_start_time.rate) if timeline.global_start_time else 0.0
    if not is_drop_frame_rate(rate):
        return
    import aaf2

    with aaf2.open(path, "rw") as f:
        for mob in f.content.compositionmobs():
            for slot in mob.slots:
                if isinstance(slot.segment, aaf2.components.Timecode):
                    slot.segment.drop = True


def clip_label(clip: DeliveredClip) -> str:
    """What a clip is called where an editor reads one name (EDL ``* FROM CLIP NAME:``): its
    catalog sounds' titles and file names (``Door knock (door_knock.wav)``), else its file."""
    names = [f"{t} ({f})" if f and t else (t or f) for t, f in clip.sources]
    return "; ".join(n for n in names if n) or clip.name


def edl_text(
    clips: Sequence[DeliveredClip],
    *,
    fps: float,
    start_tc: str | None = None,
    title: str = "sfxkit",
    channels: int = 2,
) -> str:
    """CMX3600 EDL of ``clips`` (one track: no two may overlap in record time; see
    :func:`edl_files`): one cut event per clip in record order, on audio channel A (AA for
    stereo and more), drop-frame labels and ``FCM: DROP FRAME`` at 29.97/59.94.

    Record times are timecode (start timecode + position); source times are the clip file's own
    timecode (its BWF TimeReference), so a clip in place has source in = record in. Comments name
    the catalog sounds by title and file (``* FROM CLIP NAME:``, :func:`clip_label`; one
    ``* SOURCE FILE:`` per catalog file), the delivered file (``* FROM CLIP:``, which OTIO's
    reader turns into the media link), its stem type, licence and the NON-COMMERCIAL flag.
    """
    df = is_drop_frame_rate(fps)
    tc0 = _start_frames(start_tc, fps)
    lines = [f"TITLE: {title}", f"FCM: {'DROP FRAME' if df else 'NON-DROP FRAME'}", ""]
    track = "AA" if channels >= 2 else "A"
    ordered = sorted(clips, key=lambda c: (c.start, STEM_TYPES.index(c.stem_type)))
    last_out, last_name = -1, ""
    for event, clip in enumerate(ordered, start=1):
        rec_in, rec_out, src_in, _, _ = _frames(clip, fps, tc0)
        if rec_in < last_out:
            # A CMX3600 track plays one event at a time; readers refuse overlapping records.
            raise InputError(
                f"clips {last_name} and {clip.name} overlap on one EDL track; write one EDL per "
                "track (edl_files)"
            )
        last_out, last_name = rec_out, clip.name
        src_out = src_in + (rec_out - rec_in)

        def tc(frames: int) -> str:
            return frames_to_timecode(frames, fps)

        reel = "AX"  # auxiliary source: the file is named in the comments below
        lines.append(
            f"{event:03d}  {reel:<8} {track:<5} C        "
            f"{tc(src_in)} {tc(src_out)} {tc(tc0 + rec_in)} {tc(tc0 + rec_out)}"
        )
        lines.append(f"* FROM CLIP NAME: {clip_label(clip)}")
        lines.append(f"* FROM CLIP: {clip.path}")
        for _, file in clip.sources:
            if file:
                lines.append(f"* SOURCE FILE: {file}")
        extra = " ".join(
            f"{k.upper()} {v}" for k, v in clip.comments.items() if k != NON_COMMERCIAL
        )
        lines.append(f"* COMMENT: {TRACK_NAMES[clip.stem_type]} {extra}".rstrip())
        if clip.non_commercial:
            lines.append(f"* {NON_COMMERCIAL}: {clip.comments.get(NON_COMMERCIAL, 'yes')}")
        lines.append("")
    if not ordered:
        lines.append("* NO SOUNDING CUES")
    return "\n".join(lines) + "\n"


def edl_files(
    clips: Sequence[DeliveredClip],
    *,
    fps: float,
    start_tc: str | None = None,
    title: str = "sfxkit",
    channels: int = 2,
    name: str = "cues",
) -> dict[str, str]:
    """``{file name: EDL text}``: ``name.edl`` when no two clips overlap, else one EDL per
    track of :func:`track_lanes` (``cues_BG.edl``, ``cues_FX.edl``, ``cues_FX_2.edl``,
    ``cues_GEN.edl``), as editors exchange multitrack audio: a CMX3600 event list is one track
    and its readers (OTIO's among them) refuse overlapping records."""
    lanes = track_lanes(clips, fps=fps, start_tc=start_tc)
    tc0 = _start_frames(start_tc, fps)
    spans = sorted(_frames(c, fps, tc0)[:2] for c in clips)
    if len(lanes) <= 1 or all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)):
        return {
            f"{name}.edl": edl_text(
                clips, fps=fps, start_tc=start_tc, title=title, channels=channels
            )
        }
    return {
        f"{name}_{track.replace(' ', '_')}.edl": edl_text(
            members, fps=fps, start_tc=start_tc, title=f"{title} {track}", channels=channels
        )
        for track, members in lanes
    }


__all__ = [
    "INTERCHANGE_FORMATS",
    "STEM_TYPES",
    "TRACK_NAMES",
    "DeliveredClip",
    "build_otio",
    "clip_label",
    "edl_files",
    "edl_text",
    "stem_type",
    "track_lanes",
    "write_interchange",
]
