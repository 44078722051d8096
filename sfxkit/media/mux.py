"""Put a soundtrack into a video without touching the picture.

:func:`mux_audio` copies the video stream's packets unchanged (no decode, no re-encode, so the
picture is bit-identical), encodes the new audio (AAC, or PCM in .mov/.mkv), fits it to the video
duration, and writes the result atomically. The source's own audio is dropped unless asked for.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from sfxkit.errors import InputError, MediaError

if TYPE_CHECKING:  # pragma: no cover
    import av

    from sfxkit.media.frames import VideoTiming

CONTAINERS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
AUDIO_CODECS: dict[str, str] = {
    "aac": "aac",
    "pcm": "pcm_s24le",
    "pcm_s16le": "pcm_s16le",
    "pcm_s24le": "pcm_s24le",
}
PCM_CONTAINERS = {".mov", ".mkv"}
LAYOUTS = {1: "mono", 2: "stereo"}
AAC_BITRATE = 256_000
ENCODE_FRAME = 1024  # AAC's frame size; also a fine chunk for PCM


def _load_audio(audio: str | Path | np.ndarray, sample_rate: int | None) -> tuple[np.ndarray, int]:
    if isinstance(audio, (str, Path)):
        # The hardened reader: header and memory guards, NaN checks, soxr resampling.
        from sfxkit.media.audio import load_audio

        decoded = load_audio(audio, sample_rate=sample_rate)
        return np.ascontiguousarray(decoded.samples, dtype=np.float32), decoded.sample_rate
    if sample_rate is None:
        raise InputError("mux_audio got an audio array without sample_rate; pass sample_rate=")
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"audio must be shaped (channels, samples), got {x.shape}")
    return np.ascontiguousarray(x), int(sample_rate)


class _Restamp:
    """Timestamps for the copied video packets when the source's were not believed (see
    :mod:`sfxkit.media.frames`), so the written file lasts what its frames fill, not the hours
    its headers claimed. The packets' bytes are never changed.

    Retimed sources: frame ``k`` goes to ``k / fps``. Otherwise only a last frame held far
    longer than one frame is cut to one frame.
    """

    def __init__(self, path: Path, timing: VideoTiming) -> None:
        import av

        self.timing = timing
        self.time_base = 1 / Fraction(timing.fps).limit_denominator(1001000)
        self.dts = np.zeros(0, dtype=np.int64)
        self.lead = 0
        if timing.retimed:
            with av.open(str(path)) as c:
                stream = c.streams.video[0]
                dts = [p.dts for p in c.demux(stream) if p.size and p.dts is not None]
            self.dts = np.sort(np.asarray(dts, dtype=np.int64))
            # Decode order runs ahead of display order by the frames decoded before the first
            # one shown (B-frame reordering): keep that lead.
            self.lead = int(np.searchsorted(self.dts, timing.pts[0], side="left"))
        last = int(timing.pts[-1])
        self.last = last
        self.last_ticks = max(
            1,
            round(
                (timing.duration - float((last - timing.origin) * timing.time_base))
                / timing.time_base
            ),
        )

    def __call__(self, packet: av.Packet) -> None:
        t = self.timing
        if not t.retimed:
            if packet.pts == self.last and (packet.duration or 0) > self.last_ticks:
                packet.duration = self.last_ticks
            return
        if packet.pts is not None:
            packet.pts = int(np.searchsorted(t.pts, packet.pts, side="left"))
        if packet.dts is not None:
            packet.dts = int(np.searchsorted(self.dts, packet.dts, side="left")) - self.lead
        packet.duration = 1
        packet.time_base = self.time_base


def mux_audio(
    video: str | Path,
    audio_wav_or_array: str | Path | np.ndarray,
    out: str | Path,
    *,
    sample_rate: int | None = None,
    codec: str = "aac",
    keep_original: bool = False,
    bitrate: int = AAC_BITRATE,
) -> Path:
    """Write ``out``: ``video``'s picture (packets copied) with ``audio_wav_or_array`` as its sound.

    The audio (a sound file, or a ``(channels, samples)`` array with ``sample_rate``) is padded
    with silence or trimmed to the video's duration: what its frames fill, as
    :func:`sfxkit.media.frames.video_info` measures it, never a header's claim (a video that
    claims hours gets the seconds its frames last, and a :class:`VideoTimingWarning`). The picture's
    packets are copied byte for byte; only when the source's timestamps were not believed are they
    rewritten (frame ``k`` at ``k / fps``), so the new file is as long as its frames. ``codec`` is ``"aac"`` (any of .mp4, .m4v,
    .mov, .mkv) or ``"pcm"``/``"pcm_s24le"``/``"pcm_s16le"`` (.mov, .mkv). ``keep_original``
    keeps the source's audio streams (copied) after the new one. ``out`` may be ``video`` itself.
    """
    import av

    from sfxkit._atomic import atomic_path
    from sfxkit.media.frames import video_timing

    src, dst = Path(video), Path(out)
    suffix = dst.suffix.lower()
    if suffix not in CONTAINERS:
        raise InputError(
            f"{dst}: cannot write a '{dst.suffix}' video; use one of: {', '.join(CONTAINERS)}"
        )
    codec_name = AUDIO_CODECS.get(codec)
    if codec_name is None:
        raise InputError(f"unknown audio codec {codec!r}; use one of: {', '.join(AUDIO_CODECS)}")
    if codec_name.startswith("pcm") and suffix not in PCM_CONTAINERS:
        raise InputError(
            f"{dst}: PCM audio cannot go in a '{suffix}' file; write .mov or .mkv, or use codec='aac'"
        )
    timing = video_timing(src)
    extent = timing.duration
    samples, sr = _load_audio(audio_wav_or_array, sample_rate)
    layout = LAYOUTS.get(samples.shape[0])
    if layout is None:
        raise InputError(f"cannot mux {samples.shape[0]}-channel audio; give mono or stereo")

    try:
        source = av.open(str(src))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(src, f"cannot open video ({exc})") from exc
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        source.close()
        raise MediaError(
            dst, f"cannot write here ({exc.strerror or exc})", "choose a writable folder"
        ) from exc
    try:
        with source, atomic_path(dst) as tmp:
            if not source.streams.video:
                raise MediaError(src, "has no video stream", "pass a video file to mux audio into")
            vin = source.streams.video[0]
            restamp = _Restamp(src, timing)
            v_start = 0.0 if timing.retimed else float(timing.origin * timing.time_base)
            target = int(round(extent * sr))
            if samples.shape[1] < target:
                samples = np.pad(samples, ((0, 0), (0, target - samples.shape[1])))
            else:
                samples = samples[:, :target]
            a_ins = list(source.streams.audio) if keep_original else []
            with av.open(str(tmp), "w", format=CONTAINERS[suffix]) as sink:
                vout = sink.add_stream_from_template(vin)
                aout = cast("av.AudioStream", sink.add_stream(codec_name, rate=sr, layout=layout))
                if codec_name == "aac":
                    aout.bit_rate = bitrate
                copies = {s.index: sink.add_stream_from_template(s) for s in a_ins}
                # Encode the new audio first (small), then interleave it with the copied packets
                # by time so the file plays from the first byte.
                offset = int(round(v_start * sr))
                encoded: list[av.Packet] = []
                for i in range(0, target, ENCODE_FRAME):
                    chunk = np.ascontiguousarray(samples[:, i : i + ENCODE_FRAME])
                    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                    frame.sample_rate = sr
                    frame.pts = offset + i
                    frame.time_base = Fraction(1, sr)
                    encoded.extend(aout.encode(frame))
                encoded.extend(aout.encode(None))
                pending = iter(encoded)
                nxt = next(pending, None)
                for packet in source.demux([vin, *a_ins]):
                    if packet.stream_index == vin.index:
                        restamp(packet)
                    stamp = packet.dts if packet.dts is not None else packet.pts
                    if stamp is None:
                        continue  # demuxer flush packets carry no data
                    when = float(stamp * (packet.time_base or Fraction(0)))
                    while (
                        nxt is not None
                        and nxt.pts is not None
                        and float(nxt.pts * (nxt.time_base or Fraction(0))) <= when
                    ):
                        sink.mux(nxt)
                        nxt = next(pending, None)
                    packet.stream = (
                        vout if packet.stream_index == vin.index else copies[packet.stream_index]
                    )
                    sink.mux(packet)
                while nxt is not None:
                    sink.mux(nxt)
                    nxt = next(pending, None)
    except av.FFmpegError as exc:  # atomic_path removed the partial file
        raise MediaError(
            src, f"cannot remux into {dst} ({exc})", "check the video plays, or re-encode it"
        ) from exc
    except OSError as exc:
        raise MediaError(
            dst, f"cannot write here ({exc.strerror or exc})", "choose a writable folder"
        ) from exc
    return dst
