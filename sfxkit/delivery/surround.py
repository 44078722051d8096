"""5.1 placement (SMPTE order L R C LFE Ls Rs), a stereo fold-down to check it, and its loudness.

How a sound editor places each layer, as functions of its role:

- ``bed`` (ambience across a scene): the stereo bed in L/R and again in Ls/Rs, ``surround_db``
  lower, so the room surrounds the audience; nothing in C (kept for dialogue) or the LFE.
- ``spot`` (an effect on a visible event): panned across the front L-C-R by the event's screen
  position ``x`` in [-1, 1] (-1 left edge, 0 centre, 1 right edge), constant power.
- ``shot`` (one sound per shot, today's mode): the front pair, a mono sound in C.

Loudness of 5.1 is BS.1770's: the surrounds weigh 1.41, the LFE is not measured
(:func:`sfxkit.media.loudness.channel_weights`).
"""

from __future__ import annotations

import math

import numpy as np

from sfxkit.errors import InputError

LAYOUT_51: tuple[str, ...] = ("L", "R", "C", "LFE", "Ls", "Rs")
L, R, C, LFE, LS, RS = range(6)
ROLES: tuple[str, ...] = ("bed", "spot", "shot")
_M3DB = 1 / math.sqrt(2)  # -3 dB, the ITU-R BS.775 fold-down coefficient


def _audio(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] not in (1, 2):
        raise InputError(
            f"5.1 placement takes mono or stereo (channels, samples) audio, got shape {x.shape}"
        )
    return x


def _mono(x: np.ndarray) -> np.ndarray:
    # Equal-gain sum: a centred stereo image keeps its level as a point source.
    return x.mean(axis=0) if x.shape[0] > 1 else x[0]


def front_gains(x: float) -> tuple[float, float, float]:
    """Constant-power (L, C, R) gains for screen position ``x`` in [-1, 1] (clamped)."""
    if not math.isfinite(x):
        raise InputError(f"screen position must be a number in [-1, 1], got {x}")
    x = min(1.0, max(-1.0, float(x)))
    if x <= 0:  # between L (x=-1) and C (x=0)
        t = (x + 1) * math.pi / 2
        gains = (math.cos(t), math.sin(t), 0.0)
    else:  # between C (x=0) and R (x=1)
        t = x * math.pi / 2
        gains = (0.0, math.cos(t), math.sin(t))
    # cos(pi/2) is 6e-17, not 0: a sound panned hard to one speaker leaves the others silent.
    return tuple(0.0 if g < 1e-9 else g for g in gains)  # type: ignore[return-value]


def pan_front(audio: np.ndarray, x: float) -> np.ndarray:
    """A spot effect (mono, or stereo summed to mono) panned L-C-R to screen position ``x``."""
    mono = _mono(_audio(audio))
    gl, gc, gr = front_gains(x)
    out = np.zeros((6, mono.shape[0]), dtype=np.float32)
    out[L], out[C], out[R] = mono * np.float32(gl), mono * np.float32(gc), mono * np.float32(gr)
    return out


def spread_bed(audio: np.ndarray, *, surround_db: float = -3.0) -> np.ndarray:
    """An ambience bed in L/R and, ``surround_db`` lower, in Ls/Rs; C and LFE stay empty."""
    x = _audio(audio)
    stereo = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x
    g = np.float32(10 ** (surround_db / 20))
    out = np.zeros((6, x.shape[1]), dtype=np.float32)
    out[L], out[R] = stereo[0], stereo[1]
    out[LS], out[RS] = stereo[0] * g, stereo[1] * g
    return out


def front(audio: np.ndarray) -> np.ndarray:
    """A per-shot sound in the front: stereo in L/R, mono in C."""
    x = _audio(audio)
    if x.shape[0] == 1:
        return pan_front(x, 0.0)
    out = np.zeros((6, x.shape[1]), dtype=np.float32)
    out[L], out[R] = x[0], x[1]
    return out


def place_51(
    audio: np.ndarray, role: str = "shot", *, x: float | None = None, surround_db: float = -3.0
) -> np.ndarray:
    """``audio`` placed in 5.1 as its ``role`` asks (see the module docstring); ``x`` is the
    screen position of a spot effect (centre when unknown)."""
    if role == "bed":
        return spread_bed(audio, surround_db=surround_db)
    if role == "spot":
        return pan_front(audio, 0.0 if x is None else x)
    if role == "shot":
        return front(audio)
    raise InputError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")


def fold_down(audio: np.ndarray) -> np.ndarray:
    """ITU-R BS.775 stereo fold-down (Lo/Ro) of 5.1 for checking: C and the surrounds at -3 dB,
    the LFE dropped. Not normalised: a loud 5.1 mix can fold down over full scale."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != 6:
        raise InputError(f"fold_down takes 5.1 audio shaped (6, samples), got {x.shape}")
    g = np.float32(_M3DB)
    return np.stack([x[L] + g * x[C] + g * x[LS], x[R] + g * x[C] + g * x[RS]]).astype(np.float32)


__all__ = [
    "LAYOUT_51",
    "ROLES",
    "fold_down",
    "front",
    "front_gains",
    "pan_front",
    "place_51",
    "spread_bed",
]
