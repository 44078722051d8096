"""Fitting sounds to shots, blending layers, loudness and the final mix of a soundtrack.

Owns the audio side of a :class:`~sfxkit.delivery.timeline.Timeline`: trim or loop a sound to its shot
and line its onset up with the visual onset (:func:`fit_to_shot`), shape it by visual motion
(:func:`motion_envelope`, :func:`pan_by_motion`, loudness over time as in Tri-Ergon but done in
post), layer or crossfade retrieved and generated sounds at matched loudness
(:func:`blend_layers`), and mix the cues into one track at a target integrated loudness
(ITU-R BS.1770, EBU R128 −23 LUFS by default) under a true-peak ceiling (:func:`mix_timeline`):
per-shot cues crossfade at cuts, a scene's ambience bed runs unbroken under its shots and
crossfades at scene changes, spot effects sit on their onsets.
Measurement itself lives in :mod:`sfxkit.media.loudness`.

Audio is float32 ``(channels, samples)``; 1-D input is taken as mono.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from sfxkit.errors import InputError
from sfxkit.media.audio import resample
from sfxkit.media.loudness import (
    MIN_GATED_SECONDS,
    SILENCE_DB,
    gain_to,
    integrated_loudness,
    level,
    peak_dbfs,
    true_peak_envelope,
)

if TYPE_CHECKING:
    from pathlib import Path

    from sfxkit.delivery.timeline import Cue, Layer, Timeline
    from sfxkit.media.motion import MotionProfile

FitMode = Literal["trim", "loop"]
BlendMode = Literal["layer", "crossfade"]

DEFAULT_TARGET_LUFS = -23.0
DEFAULT_TRUE_PEAK = -1.0
# Short clips (< 400 ms, no BS.1770 gating block) are levelled by sample peak this far above the
# loudness target: a typical peak-to-loudness ratio for percussive effects.
SHORT_CLIP_PEAK_OFFSET_DB = 12.0
# Where a sound that follows motion sits while the shot is still.
MOTION_FLOOR_DB = -12.0


# ---- small helpers ----------------------------------------------------------------------------


def _audio(audio: np.ndarray, what: str = "audio") -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1:
        raise InputError(f"{what} must be shaped (channels, samples), got {np.shape(audio)}")
    return x


def _to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """Mono is copied to every channel; several channels are averaged down to mono."""
    if x.shape[0] == channels:
        return x
    if x.shape[0] == 1:
        return np.repeat(x, channels, axis=0)
    if channels == 1:
        return x.mean(axis=0, keepdims=True)
    raise InputError(
        f"cannot map {x.shape[0]}-channel audio to {channels} channels; give mono or {channels} ch"
    )


def _ramp(n: int) -> np.ndarray:
    """Quarter-period positions 0..pi/2 sampled at bin centres, so in²+out² = 1 at every sample."""
    return ((np.arange(n) + 0.5) / max(n, 1) * (np.pi / 2)).astype(np.float64)


def _fade_in(x: np.ndarray, n: int, start: int = 0) -> None:
    n = min(n, x.shape[1] - start)
    if n > 0:
        x[:, start : start + n] *= np.sin(_ramp(n)).astype(np.float32)


def _fade_out(x: np.ndarray, n: int) -> None:
    n = min(n, x.shape[1])
    if n > 0:
        x[:, x.shape[1] - n :] *= np.cos(_ramp(n)).astype(np.float32)


def _db(value: float) -> float:
    return float(10.0 ** (value / 20.0))


def _true_peak_db(x: np.ndarray, sr: int) -> float:
    """:func:`true_peak_dbtp`'s number (same resampler), computed in chunks to bound memory."""
    peak = float(true_peak_envelope(x, sr).max(initial=0.0))
    return 20.0 * float(np.log10(peak)) if peak > 0 else SILENCE_DB


# ---- onsets and fitting -----------------------------------------------------------------------


def audio_onset(audio: np.ndarray, sr: int) -> float:
    """Seconds to the sound's main onset: the biggest rise in short-time energy (5 ms windows).

    The biggest rise, not the first, so a quiet lead-in does not count as the attack. Digital
    silence returns 0.0.
    """
    x = _audio(audio).astype(np.float64).mean(axis=0)
    win = max(16, int(round(0.005 * sr)))
    hop = max(1, win // 4)
    # Leading zeros make an attack on the very first sample a rise like any other.
    x = np.concatenate([np.zeros(win), x])
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, x.size - win + 1, hop)
    if starts.size < 2:
        return 0.0
    energy = c[starts + win] - c[starts]
    rise = np.diff(energy)
    k = int(np.argmax(rise)) + 1
    if rise[k - 1] <= 0:
        return 0.0
    # Window k took in samples [starts[k] + win - hop, starts[k] + win) that window k-1 lacked:
    # the attack is among them.
    attack = starts[k] + win - hop / 2.0 - win
    return float(max(attack, 0.0) / sr)


def _fit_samples(
    x: np.ndarray,
    n: int,
    *,
    mode: FitMode,
    fade_n: int,
    shift: int = 0,
    onset_pos: int | None = None,
) -> np.ndarray:
    """``x`` fitted to exactly ``n`` samples; ``shift`` > 0 delays it, < 0 cuts its head.

    ``onset_pos`` (output samples) keeps a head-cut's fade-in short of the aligned onset.
    """
    if mode not in ("trim", "loop"):
        raise InputError(f"unknown fit mode {mode!r}; use 'trim' or 'loop'")
    ch, length = x.shape
    out = np.zeros((ch, n), dtype=np.float32)
    if n == 0 or length == 0:
        return out
    pad = max(shift, 0)
    body = x[:, max(-shift, 0) :].copy()
    if shift < 0 and body.shape[1]:
        # We cut into the sound: fade in, but keep the fade short of the onset we aligned.
        limit = fade_n if onset_pos is None else max(1, onset_pos // 2)
        _fade_in(body, min(fade_n, limit))
    pos = pad
    take = min(body.shape[1], n - pos) if pos < n else 0
    if take > 0:
        out[:, pos : pos + take] = body[:, :take]
    end = pos + body.shape[1]
    if mode == "loop" and end < n:
        # Further passes of the whole sound, each joined by an equal-power crossfade.
        xf = min(fade_n, length // 2, body.shape[1] // 2)
        ramp = _ramp(xf)
        fade_in_g, fade_out_g = np.sin(ramp).astype(np.float32), np.cos(ramp).astype(np.float32)
        period = length - xf
        if period <= 0:
            return out
        while end < n:
            p = end - xf
            if xf:
                out[:, p:end] *= fade_out_g
            seg = x.copy()
            if xf:
                seg[:, :xf] *= fade_in_g
            take = min(length, n - p)
            out[:, p : p + take] += seg[:, :take]
            end = p + length
    if end > n:
        # The sound continues past the shot: fade it out rather than cut it.
        _fade_out(out, min(fade_n, n - pad))
    return out


def fit_to_shot(
    audio: np.ndarray,
    sr: int,
    duration: float,
    *,
    mode: FitMode = "trim",
    fade: float = 0.01,
    onset_at: float | None = None,
    align: bool = True,
) -> np.ndarray:
    """``audio`` trimmed or looped to exactly ``round(duration * sr)`` samples.

    ``trim`` cuts a longer sound (fading it out over ``fade`` s) and pads a shorter one with
    silence; ``loop`` repeats a shorter sound with equal-power crossfades of ``fade`` s at the
    seams. With ``onset_at`` (seconds into the shot, e.g. from
    :func:`sfxkit.media.motion.strongest_onset`) and ``align``, the sound is shifted so its main
    onset (:func:`audio_onset`) lands there: delayed with leading silence, or with its head cut
    (and faded in) when the onset comes later in the sound than in the shot.
    """
    if duration <= 0:
        raise InputError(f"shot duration must be positive, got {duration}")
    x = _audio(audio)
    n = int(round(duration * sr))
    shift = 0
    onset_pos = None
    if onset_at is not None and align:
        if onset_at < 0:
            raise InputError(f"onset_at must be >= 0 seconds into the shot, got {onset_at}")
        onset_pos = int(round(onset_at * sr))
        shift = onset_pos - int(round(audio_onset(x, sr) * sr))
    return _fit_samples(
        x, n, mode=mode, fade_n=int(round(fade * sr)), shift=shift, onset_pos=onset_pos
    )


# ---- motion-driven shaping ---------------------------------------------------------------------


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or values.size < 2:
        return values.astype(np.float64)
    kernel = np.ones(width) / width
    padded = np.pad(values.astype(np.float64), (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _profile_at_samples(profile: MotionProfile, values: np.ndarray, n: int, sr: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) / sr
    return np.interp(t, np.asarray(profile.times, dtype=np.float64), values)


def motion_envelope(
    audio: np.ndarray, sr: int, profile: MotionProfile, floor_db: float = MOTION_FLOOR_DB
) -> np.ndarray:
    """``audio`` with a gain that follows visual motion energy over the shot.

    Full level where the shot moves most, ``floor_db`` where it is still, linear in dB between;
    the energy is smoothed over three frames so the gain does not zipper. Sample 0 of ``audio``
    is the profile's start. A shot with no motion leaves the audio unchanged.
    """
    x = _audio(audio)
    if floor_db > 0:
        raise InputError(f"floor_db must be <= 0 dB, got {floor_db}")
    energy = np.asarray(profile.energy, dtype=np.float64)
    if energy.size == 0 or float(np.max(energy)) <= 1e-6:
        return x.copy()
    smooth = _smooth(energy, 3)
    norm = np.clip(smooth / float(np.max(smooth)), 0.0, 1.0)
    gain = 10.0 ** (floor_db * (1.0 - norm) / 20.0)
    curve = _profile_at_samples(profile, gain, x.shape[1], sr).astype(np.float32)
    return x * curve[None, :]


def pan_by_motion(mono: np.ndarray, sr: int, profile: MotionProfile) -> np.ndarray:
    """Stereo ``(2, samples)`` from ``mono``, panned to follow the horizontal centroid of motion.

    Equal-power pan law (left = cos θ, right = sin θ, θ from 0 at the left edge to π/2 at the
    right), so loudness does not dip as the sound crosses the middle. Several input channels are
    summed to mono first. The centroid is smoothed over five frames.
    """
    x = _audio(mono, "mono audio").mean(axis=0)
    pos = _smooth(np.clip(np.asarray(profile.centroid_x, dtype=np.float64), -1.0, 1.0), 5)
    p = _profile_at_samples(profile, pos, x.size, sr) if pos.size else np.zeros(x.size)
    theta = (np.clip(p, -1.0, 1.0) + 1.0) * (np.pi / 4.0)
    return np.stack([x * np.cos(theta), x * np.sin(theta)]).astype(np.float32)


def shape_layer(
    layer: Layer,
    video: str | Path,
    start: float,
    end: float,
    *,
    mode: FitMode = "trim",
    align: bool = True,
    follow_motion: bool = False,
    pan: bool = False,
    floor_db: float = MOTION_FLOOR_DB,
    handle: float = 0.01,
    profile: MotionProfile | None = None,
) -> Layer:
    """``layer`` fitted to the shot ``[start, end]`` of ``video``: the steps above in one call.

    Trims or loops the sound to the shot plus ``handle`` seconds of tail (material the mix uses
    for its crossfade into the next shot), aligns its onset to the strongest motion onset in the
    shot's first second when ``align`` (left alone if the shot has none), and optionally follows
    motion energy (``follow_motion``, down to ``floor_db``) and the motion's horizontal position
    (``pan``, which makes the layer stereo). Pass ``profile`` to reuse a computed motion profile.
    """
    import dataclasses

    from sfxkit.media.motion import motion_profile, strongest_onset

    if end <= start:
        raise InputError(f"shot needs start < end, got start={start}, end={end}")
    if profile is None and (align or follow_motion or pan):
        profile = motion_profile(video, start=start, end=end)
    onset = strongest_onset(profile) if (align and profile is not None) else None
    sr = layer.sample_rate
    x = fit_to_shot(layer.waveform, sr, (end - start) + max(handle, 0.0), mode=mode, onset_at=onset)
    if follow_motion and profile is not None:
        x = motion_envelope(x, sr, profile, floor_db)
    if pan and profile is not None:
        x = pan_by_motion(x, sr, profile)
    return dataclasses.replace(layer, waveform=x)


# ---- loudness ---------------------------------------------------------------------------------


def _levels(clips: Sequence[np.ndarray], sr: int) -> list[float]:
    """One comparable level per clip: integrated LUFS, or sample peak if any clip is short."""
    measured = [level(c, sr) for c in clips]
    if all(kind == "integrated" for _, kind in measured):
        return [value for value, _ in measured]
    return [peak_dbfs(c) for c in clips]


def loudness_match(a: np.ndarray, b: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` scaled to the same loudness: they meet at the mean of their two levels.

    Meeting in the middle keeps either from being pushed far up or down. When either clip is
    shorter than 400 ms both are compared by sample peak (BS.1770 needs a 400 ms block). A silent
    clip is left as it is.
    """
    x, y = _audio(a), _audio(b)
    la, lb = _levels([x, y], sr)
    if la <= SILENCE_DB or lb <= SILENCE_DB:
        return x.copy(), y.copy()
    mid = (la + lb) / 2.0
    return x * _db(mid - la), y * _db(mid - lb)


def normalize(audio: np.ndarray, sr: int, target_lufs: float) -> np.ndarray:
    """``audio`` at ``target_lufs`` integrated loudness (BS.1770).

    A clip shorter than 400 ms has no gated loudness; it is levelled so its sample peak is
    ``target_lufs`` dBFS instead (see :func:`sfxkit.media.loudness.gain_to`). Silence stays silent.
    """
    x = _audio(audio)
    return x * np.float32(gain_to(x, sr, target_lufs))


def _running_max(values: np.ndarray, width: int) -> np.ndarray:
    """Centred running maximum over ``width`` (odd) samples, O(n) (van Herk / Gil-Werman)."""
    n = values.size
    half = width // 2
    padded = np.pad(values, (half, half + (-(n + 2 * half)) % width), mode="edge")
    blocks = padded.reshape(-1, width)
    prefix = np.maximum.accumulate(blocks, axis=1).ravel()
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    idx = np.arange(n)
    return np.maximum(suffix[idx], prefix[idx + width - 1])


def _running_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` samples (edges held)."""
    half = width // 2
    padded = np.pad(values, (half, width - 1 - half), mode="edge")
    c = np.concatenate([[0.0], np.cumsum(padded)])
    return (c[width:] - c[:-width]) / width


def _hold_release(att: np.ndarray, coef: float, block: int = 8192) -> np.ndarray:
    """``r[k] = max(att[k], r[k-1] * coef)``: instant attack, exponential release, vectorised.

    Within a block, ``r[k] = coef**k * cummax(att[j] * coef**-j)``; blocks keep the powers of
    ``coef`` small and carry the running value across.
    """
    out = np.empty_like(att)
    carry = 0.0
    powers = coef ** np.arange(block, dtype=np.float64)
    for s in range(0, att.size, block):
        a = att[s : s + block]
        p = powers[: a.size]
        r = np.maximum.accumulate(a / p) * p
        r = np.maximum(r, carry * p * coef)
        out[s : s + a.size] = r
        carry = float(r[-1])
    return out


def limit_true_peak(
    audio: np.ndarray,
    sr: int,
    ceiling_dbtp: float = -1.0,
    *,
    lookahead: float = 0.005,
    release: float = 0.08,
) -> np.ndarray:
    """``audio`` under ``ceiling_dbtp`` true peak, as measured by :func:`true_peak_dbtp`.

    A look-ahead limiter driven by the 4x-oversampled peak envelope: the gain reduction needed at
    each sample is held over ±``lookahead`` (so it is already down when an inter-sample peak
    arrives), released exponentially with time constant ``release``, and smoothed; it aims
    0.05 dB under the ceiling. The result is then measured with the same 4x resampler as
    :func:`true_peak_dbtp` (streamed, :func:`true_peak_envelope`); any residue left by the gain's
    own modulation is taken off with a final static trim, so the ceiling is a guarantee rather
    than a hope. Audio already under the ceiling comes back unchanged.
    """
    x = _audio(audio)
    if x.shape[1] == 0:
        return x.copy()
    # Aim a little under the ceiling so the static trim below rarely has anything to do.
    aim_db = ceiling_dbtp - 0.05
    env = true_peak_envelope(x, sr).astype(np.float64)
    if float(env.max()) <= _db(ceiling_dbtp):
        return x.copy()  # already under the ceiling: nothing to limit, nothing to re-measure
    with np.errstate(divide="ignore"):
        att = np.maximum(0.0, 20.0 * np.log10(np.maximum(env, 1e-12)) - aim_db)
    hold = max(1, int(round(lookahead * sr)))
    held = _running_max(att, 2 * hold + 1)
    released = _hold_release(held, float(np.exp(-1.0 / max(1.0, release * sr))))
    # A centred average no wider than the hold keeps every sample at or below the gain the
    # held reduction demanded, so smoothing cannot let a peak through.
    gain = _running_mean(10.0 ** (-released / 20.0), hold + 1)
    x = x * gain.astype(np.float32)[None, :]
    for _ in range(4):
        tp = _true_peak_db(x, sr)
        if tp <= ceiling_dbtp:
            break
        x = x * np.float32(_db(ceiling_dbtp - tp - 0.01))
    return x.astype(np.float32)


# ---- blending ---------------------------------------------------------------------------------


def equal_power_crossfade(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """``a`` then ``b``, overlapping by ``n`` samples with cos/sin gains (constant power).

    The result has ``len(a) + len(b) - n`` samples. Mono meets stereo as dual mono.
    """
    x, y = _audio(a), _audio(b)
    if n < 0 or n > min(x.shape[1], y.shape[1]):
        raise InputError(
            f"crossfade of {n} samples does not fit clips of {x.shape[1]} and {y.shape[1]} samples; "
            "use a shorter crossfade"
        )
    ch = max(x.shape[0], y.shape[0])
    x, y = _to_channels(x, ch), _to_channels(y, ch)
    out = np.zeros((ch, x.shape[1] + y.shape[1] - n), dtype=np.float32)
    out[:, : x.shape[1]] = x
    if n:
        r = _ramp(n)
        out[:, x.shape[1] - n : x.shape[1]] *= np.cos(r).astype(np.float32)
        out[:, x.shape[1] - n :] += y * np.concatenate([np.sin(r), np.ones(y.shape[1] - n)]).astype(
            np.float32
        )
    else:
        out[:, x.shape[1] :] = y
    return out


def blend_parts(
    layers: Sequence[np.ndarray],
    sr: int,
    *,
    mode: BlendMode = "layer",
    gains_db: Sequence[float] | None = None,
    crossfade: float | None = None,
) -> list[np.ndarray]:
    """Each layer's share of :func:`blend_layers`' result (same length and channels); their sum
    is the blend. Lets a mix say how much of a blended cue was retrieved and how much generated.
    """
    if not layers:
        raise InputError("blend_layers needs at least one layer")
    clips = [_audio(layer, f"layer {i}") for i, layer in enumerate(layers)]
    gains = list(gains_db) if gains_db is not None else [0.0] * len(clips)
    if len(gains) != len(clips):
        raise InputError(f"got {len(gains)} gains for {len(clips)} layers; give one gain per layer")
    if mode not in ("layer", "crossfade"):
        raise InputError(f"unknown blend mode {mode!r}; use 'layer' or 'crossfade'")
    ch = max(c.shape[0] for c in clips)
    n = max(c.shape[1] for c in clips)
    clips = [np.pad(_to_channels(c, ch), ((0, 0), (0, n - c.shape[1]))) for c in clips]
    if len(clips) > 1:
        levels = _levels(clips, sr)
        audible = [v for v in levels if v > SILENCE_DB]
        if audible:
            common = float(np.mean(audible))
            clips = [
                c * _db(common - v) if v > SILENCE_DB else c
                for c, v in zip(clips, levels, strict=True)
            ]
    clips = [(c * _db(g)).astype(np.float32) for c, g in zip(clips, gains, strict=True)]
    if mode == "layer" or len(clips) == 1:
        return clips
    count = len(clips)
    division = n / count
    width = division if crossfade is None else min(crossfade * sr, division)
    s = np.arange(n, dtype=np.float64) + 0.5
    parts = []
    for i, clip in enumerate(clips):
        w = np.ones(n)
        if i > 0:
            b = i * division
            w *= np.sin(np.clip((s - (b - width / 2)) / max(width, 1.0), 0, 1) * np.pi / 2)
        if i < count - 1:
            b = (i + 1) * division
            w *= np.cos(np.clip((s - (b - width / 2)) / max(width, 1.0), 0, 1) * np.pi / 2)
        parts.append(clip * w.astype(np.float32))
    return parts


def blend_layers(
    layers: Sequence[np.ndarray],
    sr: int,
    *,
    mode: BlendMode = "layer",
    gains_db: Sequence[float] | None = None,
    crossfade: float | None = None,
) -> np.ndarray:
    """Several sounds for one shot made into one, after matching their loudness to each other.

    Each layer is first brought to the mean level of the layers (so none dominates by accident),
    then ``gains_db`` is applied per layer. ``layer`` sums them; ``crossfade`` passes from one to
    the next with equal-power fades centred on equal divisions of the shot, each ``crossfade``
    seconds long (default: as long as a division, a continuous morph). Layers of different length
    are padded with silence; mono layers meet stereo ones as dual mono.
    """
    parts = blend_parts(layers, sr, mode=mode, gains_db=gains_db, crossfade=crossfade)
    out = parts[0].copy()
    for part in parts[1:]:
        out += part
    return out.astype(np.float32)


# ---- the timeline mix -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Stem:
    """One cue's sound as placed in the mix: ``audio`` starts at sample ``offset`` of the track.

    ``audio`` includes the crossfade head and tail around the cue (``head`` samples before the
    cue start), at the gain used in the mix (before the true-peak limiter). ``role`` is the cue's
    (``shot``, ``bed`` or ``spot``), so delivery can group stems by type. ``by_kind`` splits
    ``audio`` by where the sound came from: ``{"retrieved": ..., "generated": ...}``, each the
    same shape as ``audio`` and placed the same way, summing to it; a blended cue has both, so
    its generated share can go to a generated-material stem and its catalog share to its role's.
    """

    cue_index: int
    decision: str
    name: str
    offset: int
    head: int
    audio: np.ndarray
    sample_rate: int
    role: str = "shot"
    by_kind: Mapping[str, np.ndarray] = field(default_factory=dict)
    material: np.ndarray | None = None

    @property
    def start(self) -> float:
        return self.offset / self.sample_rate

    @property
    def duration(self) -> float:
        return self.audio.shape[1] / self.sample_rate


@dataclass(frozen=True)
class MixStats:
    """What the mix measured: integrated loudness (or peak level) and true peak."""

    target_lufs: float
    loudness: float
    loudness_kind: str
    true_peak_dbtp: float
    ceiling_dbtp: float


Placer = Callable[[np.ndarray, "Cue", int], np.ndarray]
"""Maps one layer's audio (``(channels, samples)`` at the timeline rate) of a cue onto the
timeline's channel count; the default copies mono to every channel and folds several to mono.
Where a 5.1 timeline wants sounds placed (ambience in the surrounds, spots by screen position),
pass a placer here."""

# A spot whose sound runs past its cue is cut with a fade this long, not a click.
SPOT_FADE_SECONDS = 0.01


def _stem(
    x: np.ndarray,
    role: str,
    head: int,
    span: int,
    tail: int,
    half: int,
    gain: float,
    sr: int,
    end_fade: int,
) -> np.ndarray:
    """``x`` (starting at the cue start) at ``gain`` in a buffer from ``head`` samples before the
    cue to ``tail`` after it, faded as its role meets its neighbours (see :func:`mix_timeline`)."""
    length = head + span + tail
    stem = np.zeros((x.shape[0], length), dtype=np.float32)
    body = x[:, : length - head] * np.float32(gain)
    stem[:, head : head + body.shape[1]] = body
    if role == "spot":
        if x.shape[1] > span:
            _fade_out(stem, min(max(int(SPOT_FADE_SECONDS * sr), 1), span))
        return stem
    # Fades: equal-power over the 2*half samples around each boundary with a neighbour, a
    # short anti-click fade at the very end of the video.
    if head:
        _fade_in(stem, head + min(half, span))
    if tail:
        _fade_out(stem, tail + min(half, span))
    elif x.shape[1] > span:
        # The video ends here: a short anti-click fade (the shot crossfade's half), even for a
        # bed, whose own crossfade would fade the last half second away.
        _fade_out(stem, min(max(end_fade, 1), span))
    return stem


def _default_place(audio: np.ndarray, cue: Cue, channels: int) -> np.ndarray:
    return _to_channels(audio, channels)


def mix_timeline(
    timeline: Timeline,
    *,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    true_peak: float = DEFAULT_TRUE_PEAK,
    crossfade: float = 0.02,
    bed_crossfade: float = 1.0,
    short_peak_db: float | None = None,
    place: Placer | None = None,
) -> tuple[np.ndarray, tuple[Stem, ...]]:
    """Mix every cue of ``timeline`` into one track; returns ``(mix, stems)``.

    Each cue's layers (resampled to the timeline rate, mapped to its channels by ``place``,
    loudness-matched and blended as the cue says) start at the cue start; the cue is levelled to
    ``target_lufs`` + its ``gain_db`` (clips under 400 ms by sample peak, ``short_peak_db``
    dBFS, default target + 12 dB). How a cue meets its neighbours depends on its role:

    - ``shot`` cues overlap their neighbours by ``crossfade`` seconds centred on each shot
      boundary, with equal-power (cos/sin) fades. An incoming sound starts in sync at its cut (it
      has no material before it), so its fade begins there at -3 dB: its attack survives, power
      is constant after the cut, and before the cut the outgoing sound (continuing with its own
      material past its shot where the layer has it) eases down by at most 3 dB.
    - ``bed`` cues (a scene's ambience) do the same at scene changes with ``bed_crossfade``
      seconds; inside the scene a bed is one continuous sound, so the cuts it spans do nothing
      to it.
    - ``spot`` cues start exactly at their cue start (the event's onset) with no fade, and end
      with their own decay or a 10 ms fade where the sound runs past the cue.

    Cues of different roles sum. The total is normalised to ``target_lufs`` integrated loudness
    and limited to ``true_peak`` dBTP; the mix is exactly ``timeline.samples`` long, the video
    duration to the sample.
    """
    sr, ch, total = timeline.sample_rate, timeline.channels, timeline.samples
    place = place or _default_place
    halves = {
        "shot": max(0, int(round(crossfade * sr / 2))),
        "bed": max(0, int(round(bed_crossfade * sr / 2))),
        "spot": 0,
    }
    peak_target = (
        target_lufs + SHORT_CLIP_PEAK_OFFSET_DB if short_peak_db is None else short_peak_db
    )
    mix = np.zeros((ch, total), dtype=np.float32)
    placed: list[tuple[Cue, int, int, np.ndarray, dict[str, np.ndarray], np.ndarray | None]] = []
    for cue in timeline.cues:
        if not cue.layers:
            continue
        s0 = min(int(round(cue.start * sr)), total)
        s1 = min(int(round(cue.end * sr)), total)
        if s1 <= s0:
            continue
        half = halves.get(cue.role, halves["shot"])
        head = min(half, s0)
        tail = min(half, total - s1)
        length = head + (s1 - s0) + tail
        sounds = [
            place(resample(layer.waveform, layer.sample_rate, sr), cue, ch) for layer in cue.layers
        ]
        parts = blend_parts(
            sounds, sr, mode=cue.blend, gains_db=[layer.gain_db for layer in cue.layers]
        )
        sound = parts[0].copy()
        for part in parts[1:]:
            sound += part
        # Level the cue on its own extent, as the viewer hears it.
        in_cue = sound[:, : s1 - s0]
        if (s1 - s0) / sr < MIN_GATED_SECONDS:
            current = peak_dbfs(in_cue)
            gain = _db(peak_target + cue.gain_db - current) if current > SILENCE_DB else 1.0
        else:
            gain = gain_to(in_cue, sr, target_lufs + cue.gain_db)

        where = (cue.role, head, s1 - s0, tail, half, float(gain), sr, halves["shot"])
        stem = _stem(sound, *where)
        kinds: dict[str, np.ndarray] = {}
        for layer, part in zip(cue.layers, parts, strict=True):
            share = _stem(part, *where)
            kinds[layer.kind] = kinds[layer.kind] + share if layer.kind in kinds else share
        mix[:, s0 - head : s0 - head + length] += stem
        # A spot keeps its sound past the cue (unfaded) for the editor's handles.
        material = sound * np.float32(gain) if cue.role == "spot" else None
        placed.append((cue, s0 - head, head, stem, kinds, material))

    mix_gain = 1.0
    out = mix
    if float(np.max(np.abs(mix), initial=0.0)) > 0:
        # Normalise, limit, and re-measure: the limiter takes loudness off peaky material, so
        # correct the gain once or twice until the integrated loudness sits on the target.
        gain = gain_to(mix, sr, target_lufs)
        for _ in range(3):
            mix_gain = gain
            out = limit_true_peak(mix * np.float32(mix_gain), sr, true_peak)
            measured = integrated_loudness(out, sr)
            if measured is None or measured <= SILENCE_DB or abs(measured - target_lufs) <= 0.1:
                break
            gain = mix_gain * _db(target_lufs - measured)
    g = np.float32(mix_gain)
    stems = tuple(
        Stem(
            cue_index=cue.index,
            decision=cue.decision,
            name=cue.stem_name,
            offset=offset,
            head=head,
            audio=(stem * g).astype(np.float32),
            sample_rate=sr,
            role=cue.role,
            by_kind={k: (v * g).astype(np.float32) for k, v in kinds.items()},
            material=None if material is None else (material * g).astype(np.float32),
        )
        for cue, offset, head, stem, kinds, material in placed
    )
    return out.astype(np.float32), stems


def mix_stats(mix: np.ndarray, sr: int, *, target_lufs: float, ceiling_dbtp: float) -> MixStats:
    """Measure a finished mix the way :func:`mix_timeline` promised it."""
    value, kind = level(mix, sr)
    return MixStats(
        target_lufs=target_lufs,
        loudness=value,
        loudness_kind=kind,
        true_peak_dbtp=_true_peak_db(_audio(mix), sr),
        ceiling_dbtp=ceiling_dbtp,
    )
