"""The soundtrack timeline: what the policy decides per cue and what mixing and export read.

A :class:`Timeline` is a list of :class:`Cue`, each holding the :class:`Layer` sounds chosen for
it (retrieved from the catalog, generated, or both) with their provenance and licence. A cue has
a *role*, as on a sound editor's tracks: ``shot`` (one sound per shot, cut to cut: the per-shot
mode), ``bed`` (a scene's ambience, running under all its shots) or ``spot`` (an effect placed on
one visible event). Cues of one role follow each other; cues of different roles overlap freely
(spots sit on top of the bed), and so may spots. The JSON form (schema 2; schema 1 files, which
had only per-shot cues, still load) stores layer audio *by reference*: each layer names a WAV file relative to
the JSON's directory (``layers/shot_003_L0_retrieved.wav``), never inline samples, so a timeline
file stays small and diffable. :meth:`Timeline.save` / :meth:`Timeline.load` write and read the
JSON together with those files; :meth:`Timeline.to_json` / :meth:`Timeline.from_json` are the
string forms underneath.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sfxkit._atomic import atomic_write_text
from sfxkit._json import json_default
from sfxkit.errors import InputError, MediaError

LayerKind = Literal["retrieved", "generated"]
Decision = Literal["retrieve", "generate", "blend", "silence"]
BlendMode = Literal["layer", "crossfade"]
Role = Literal["shot", "bed", "spot"]

LAYER_KINDS: tuple[str, ...] = ("retrieved", "generated")
DECISIONS: tuple[str, ...] = ("retrieve", "generate", "blend", "silence")
BLEND_MODES: tuple[str, ...] = ("layer", "crossfade")
ROLES: tuple[str, ...] = ("shot", "bed", "spot")
CHANNEL_COUNTS: tuple[int, ...] = (1, 2, 6)
"""Mono, stereo, and 5.1 (L R C LFE Ls Rs, SMPTE order): placing sounds in 5.1 is delivery's."""
SCHEMA_VERSION = 2
READS_SCHEMAS: tuple[int, ...] = (1, 2)


def _as_audio(waveform: Any) -> np.ndarray:
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1:
        raise InputError(
            f"layer audio must be shaped (channels, samples), got {x.shape}; "
            "pass a 1-D mono array or a (channels, samples) array"
        )
    if not np.all(np.isfinite(x)):
        raise InputError(
            "layer audio contains NaN or inf samples; check the decoder or generator output"
        )
    return np.ascontiguousarray(x)


@dataclass(frozen=True, eq=False)
class Layer:
    """One sound placed in a cue.

    ``source`` is what the sound is: for a retrieved sound its catalog ``id``/``path``/``title``;
    for a generated one the generator provenance (``generator``/``model``, ``variant``, ``seed``,
    ``prompt``...). ``licence`` is the licence text or SPDX-like id; ``non_commercial`` marks
    sounds that may not be used commercially (MMAudio checkpoints are CC-BY-NC 4.0, so anything
    they generate carries it). ``gain_db`` is applied on top of loudness matching when blending.
    """

    kind: LayerKind
    waveform: np.ndarray
    sample_rate: int
    source: Mapping[str, Any] = field(default_factory=dict)
    licence: str = ""
    non_commercial: bool = False
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise InputError(
                f"unknown layer kind {self.kind!r}; use one of: {', '.join(LAYER_KINDS)}"
            )
        if int(self.sample_rate) <= 0:
            raise InputError(f"layer sample_rate must be positive, got {self.sample_rate}")
        object.__setattr__(self, "waveform", _as_audio(self.waveform))
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        object.__setattr__(self, "source", dict(self.source))
        object.__setattr__(self, "gain_db", float(self.gain_db))
        object.__setattr__(self, "non_commercial", bool(self.non_commercial))

    @property
    def channels(self) -> int:
        return int(self.waveform.shape[0])

    @property
    def duration(self) -> float:
        return self.waveform.shape[1] / self.sample_rate

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layer):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.sample_rate == other.sample_rate
            and dict(self.source) == dict(other.source)
            and self.licence == other.licence
            and self.non_commercial == other.non_commercial
            and self.gain_db == other.gain_db
            and self.waveform.shape == other.waveform.shape
            and bool(np.array_equal(self.waveform, other.waveform))
        )

    __hash__ = None  # type: ignore[assignment]  # holds an ndarray: not hashable


@dataclass(frozen=True)
class Cue:
    """One sound event of the soundtrack with the decision made for it and the sounds that
    realise it.

    ``index`` is unique in the timeline (for per-shot cues it is the shot number). ``start``/
    ``end`` are seconds on the video's timeline. ``numbers`` carries the evidence the policy used
    (scores, thresholds) so reports can show it. ``blend`` says how several layers combine:
    summed (``layer``) or crossfaded one into the next (``crossfade``). ``role`` is ``shot``,
    ``bed`` or ``spot`` (see the module docstring); ``scene`` the scene number of a bed (and of
    the shots a spot is in), ``shots`` the shot numbers the cue covers, and ``gain_db`` its level
    relative to the mix's loudness target (beds sit under the spots).
    """

    index: int
    start: float
    end: float
    decision: Decision
    reason: str = ""
    numbers: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[Layer, ...] = ()
    blend: BlendMode = "layer"
    role: Role = "shot"
    scene: int | None = None
    shots: tuple[int, ...] = ()
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InputError(f"unknown cue role {self.role!r}; use one of: {', '.join(ROLES)}")
        object.__setattr__(self, "shots", tuple(int(s) for s in self.shots))
        object.__setattr__(self, "gain_db", float(self.gain_db))
        if self.scene is not None:
            object.__setattr__(self, "scene", int(self.scene))
        if self.decision not in DECISIONS:
            raise InputError(
                f"unknown decision {self.decision!r} for cue {self.index}; use one of: {', '.join(DECISIONS)}"
            )
        if self.blend not in BLEND_MODES:
            raise InputError(f"unknown blend {self.blend!r}; use one of: {', '.join(BLEND_MODES)}")
        start, end = float(self.start), float(self.end)
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise InputError(
                f"cue {self.index}: needs 0 <= start < end, got start={start}, end={end}"
            )
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "numbers", dict(self.numbers))

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def non_commercial(self) -> bool:
        return any(layer.non_commercial for layer in self.layers)

    @property
    def stem_name(self) -> str:
        """File name of this cue's mixed stem: its role, number and decision, e.g.
        ``shot_003_retrieve.wav``, ``bed_000_retrieve.wav``, ``spot_004_blend.wav``."""
        return f"{self.role}_{self.index:03d}_{self.decision}.wav"

    def layer_name(self, position: int) -> str:
        """Relative path that stores layer ``position``'s audio in a saved timeline."""
        kind = self.layers[position].kind
        return f"layers/{self.role}_{self.index:03d}_L{position}_{kind}.wav"


@dataclass(frozen=True)
class Timeline:
    """A video's soundtrack plan: cues on the video's timeline, mixed at ``sample_rate``.

    ``fps`` is the video frame rate used for timecodes in exports; ``None`` means "probe the video
    (or use 25)".
    """

    video: str
    duration: float
    sample_rate: int
    channels: int
    cues: tuple[Cue, ...] = ()
    fps: float | None = None

    def __post_init__(self) -> None:
        duration = float(self.duration)
        if not math.isfinite(duration) or duration <= 0:
            raise InputError(f"timeline duration must be positive seconds, got {self.duration}")
        if int(self.sample_rate) <= 0:
            raise InputError(f"timeline sample_rate must be positive, got {self.sample_rate}")
        if int(self.channels) not in CHANNEL_COUNTS:
            raise InputError(f"timeline channels must be 1, 2 or 6 (5.1), got {self.channels}")
        cues = tuple(sorted(self.cues, key=lambda c: (c.start, c.index)))
        seen: set[int] = set()
        for cue in cues:
            if cue.index in seen:
                raise InputError(f"two cues share index {cue.index}; give each cue its own index")
            seen.add(cue.index)
            if cue.end > duration + 1e-6:
                raise InputError(
                    f"cue {cue.index} ends at {cue.end:.3f} s, after the video ({duration:.3f} s); "
                    "clip cues to the video duration"
                )
        object.__setattr__(self, "video", str(self.video))
        object.__setattr__(self, "duration", duration)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        object.__setattr__(self, "channels", int(self.channels))
        object.__setattr__(self, "cues", cues)
        if self.fps is not None:
            object.__setattr__(self, "fps", float(self.fps))

    @property
    def samples(self) -> int:
        """Length of the mixed track in samples: the video duration, to the sample."""
        return int(round(self.duration * self.sample_rate))

    @property
    def non_commercial(self) -> bool:
        return any(cue.non_commercial for cue in self.cues)

    def by_role(self, role: str) -> tuple[Cue, ...]:
        """The cues of one role (``shot``, ``bed`` or ``spot``), in time order."""
        return tuple(c for c in self.cues if c.role == role)

    # ---- JSON (audio by reference) ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; each layer's audio is a relative file name, not samples."""
        return {
            "schema": SCHEMA_VERSION,
            "video": self.video,
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "fps": self.fps,
            "cues": [
                {
                    "index": cue.index,
                    "start": cue.start,
                    "end": cue.end,
                    "decision": cue.decision,
                    "reason": cue.reason,
                    "numbers": cue.numbers,
                    "blend": cue.blend,
                    "role": cue.role,
                    "scene": cue.scene,
                    "shots": list(cue.shots),
                    "gain_db": cue.gain_db,
                    "layers": [
                        {
                            "kind": layer.kind,
                            "audio": cue.layer_name(j),
                            "sample_rate": layer.sample_rate,
                            "channels": layer.channels,
                            "samples": int(layer.waveform.shape[1]),
                            "source": layer.source,
                            "licence": layer.licence,
                            "non_commercial": layer.non_commercial,
                            "gain_db": layer.gain_db,
                        }
                        for j, layer in enumerate(cue.layers)
                    ],
                }
                for cue in self.cues
            ],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=json_default)

    @classmethod
    def from_json(cls, text: str, base_dir: str | Path) -> Timeline:
        """Rebuild a timeline; layer audio is read from files named in the JSON under ``base_dir``."""
        import soundfile as sf

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"timeline JSON is not valid JSON ({exc}); re-export the timeline"
            ) from exc
        if data.get("schema") not in READS_SCHEMAS:
            raise InputError(
                f"timeline JSON has schema {data.get('schema')!r}, this sfxkit reads "
                f"{', '.join(map(str, READS_SCHEMAS))}; re-export it with this version"
            )
        base = Path(base_dir)
        cues = []
        for c in data["cues"]:
            layers = []
            for spec in c["layers"]:
                path = base / spec["audio"]
                try:
                    samples, sr = sf.read(str(path), dtype="float32", always_2d=True)
                except Exception as exc:  # soundfile raises several types; report them as one
                    raise MediaError(
                        path,
                        f"cannot read layer audio ({exc})",
                        "save the timeline again with Timeline.save",
                    ) from exc
                if sr != spec["sample_rate"] or samples.shape != (
                    spec["samples"],
                    spec["channels"],
                ):
                    raise MediaError(
                        path,
                        f"layer audio is {samples.shape[1]} ch x {samples.shape[0]} @ {sr} Hz, the timeline "
                        f"expects {spec['channels']} ch x {spec['samples']} @ {spec['sample_rate']} Hz",
                        "the file was replaced after saving; save the timeline again",
                    )
                layers.append(
                    Layer(
                        kind=spec["kind"],
                        waveform=samples.T,
                        sample_rate=sr,
                        source=spec.get("source", {}),
                        licence=spec.get("licence", ""),
                        non_commercial=spec.get("non_commercial", False),
                        gain_db=spec.get("gain_db", 0.0),
                    )
                )
            cues.append(
                Cue(
                    index=c["index"],
                    start=c["start"],
                    end=c["end"],
                    decision=c["decision"],
                    reason=c.get("reason", ""),
                    numbers=c.get("numbers", {}),
                    layers=tuple(layers),
                    blend=c.get("blend", "layer"),
                    # Schema 1 had per-shot cues only, and no fields below.
                    role=c.get("role", "shot"),
                    scene=c.get("scene"),
                    shots=tuple(c.get("shots", ())),
                    gain_db=c.get("gain_db", 0.0),
                )
            )
        return cls(
            video=data["video"],
            duration=data["duration"],
            sample_rate=data["sample_rate"],
            channels=data["channels"],
            cues=tuple(cues),
            fps=data.get("fps"),
        )

    def save(self, directory: str | Path, name: str = "timeline.json") -> Path:
        """Write ``name`` and its layer WAVs (32-bit float, lossless) into ``directory``, atomically."""
        base = Path(directory)
        for cue in self.cues:
            for j, layer in enumerate(cue.layers):
                write_wav(
                    base / cue.layer_name(j), layer.waveform, layer.sample_rate, subtype="FLOAT"
                )
        return atomic_write_text(base / name, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Timeline:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MediaError(path, f"cannot read timeline ({exc.strerror or exc})") from exc
        return cls.from_json(text, path.parent)


# ---- small shared helpers (atomic writes, JSON of numpy values) ---------------------------------


def write_wav(
    path: str | Path, audio: np.ndarray, sample_rate: int, *, subtype: str = "PCM_24"
) -> Path:
    """Write ``(channels, samples)`` audio as WAV atomically; integer subtypes are clipped to ±1."""
    from sfxkit.media.audio import write_wav as _write_wav

    return _write_wav(path, _as_audio(audio), sample_rate, subtype=subtype)


def layers_summary(layers: Sequence[Layer]) -> list[dict[str, Any]]:
    """Provenance of each layer as plain data (kind, source, licence, flags, generator, seed)."""
    out = []
    for layer in layers:
        src = dict(layer.source)
        out.append(
            {
                "kind": layer.kind,
                "source": src,
                "licence": layer.licence,
                "non_commercial": layer.non_commercial,
                "gain_db": layer.gain_db,
                "generator": (src.get("generator") or src.get("model"))
                if layer.kind == "generated"
                else None,
                "seed": src.get("seed") if layer.kind == "generated" else None,
                "duration": layer.duration,
                "sample_rate": layer.sample_rate,
            }
        )
    return out
