"""aiSFX on real, freely licensed sounds: more-like-this, near-duplicates, categorisation.

    python benchmarks/aisfx_real.py --out benchmarks/results/aisfx_real.json

The script fetches its sounds itself from package registries (nothing is committed):

- ``pip download --no-deps arcade==3.3.2``: the 57 game sounds in ``arcade/resources/assets/
  sounds`` (Kenney.nl, CC0 per the wheel's ``sounds/License.txt``);
- ``apt-get download sound-theme-freedesktop`` (Debian 0.8-2): 27 desktop sounds (GPL-2+,
  CC-BY-3.0 and CC-BY-SA-3.0 per file, see the package's ``copyright``);
- ``apt-get download minetest-data`` (Debian 5.6.1): minetest_game's recorded Foley —
  footsteps on ten materials, digging, doors, fire, water, lava, glass, carts, an explosion
  (CC BY-SA 3.0 / CC0 per file, see the package's ``copyright``);
- ``apt-get download sound-icons`` (Debian 0.1-8): speech-dispatcher's sound icons, short
  instrument notes (harpsichord, piano, guitar, trumpet, percussion; GPL-2+);
- ``apt-get download oxygen-sounds`` (Debian 5.27.5): KDE's Oxygen desktop sounds (CC BY-SA 3.0 /
  LGPL), window motions and log-in jingles labelled, the rest distractors.

Labels (:data:`LABEL_RULES`) are the file names' own words (``coin3.wav`` is a coin); each label
has a UCS CatID (:data:`UCS_OF_LABEL`) for the categorisation task, checked against the UCS
table. Files with a copy in another format in the wheel (``laser1``, ``phaseJump1``,
``rockHit2``) count once (the WAV): their OGG/MP3 files are other edits, not re-encodes.

Every metric is computed for both input layouts of :mod:`sfxkit.models.aisfx` (``blocks``, the
default: the package's Essentia path, (100 frames, 96 mels) blocks; ``clip``: the librosa path's
layout, mel bands as rows padded to 100, the whole clip as one input) with the pretrained network
(``sfxkit models pull aisfx``) and with the same network at seeded random weights, in one run,
on peak-normalised audio; the pretrained network also without normalisation (``/raw``,
sfxkit's default) and on windows of the clip layout (``/windowsN``). ``--only VARIANT...``
embeds (and caches under ``--work``) only those variants, so that parallel processes can share
the work; a run without it reports from the cache:

- "more like this" over the distinct labelled sounds: P@5, R@10 (share of the query's
  same-label sounds in its top 10), hit@10, median rank of the first same-label sound, and the
  chance level of each;
- near-duplicates: every distinct sound, and for every 4th one six transformed copies made here (MP3
  128 kb/s and Ogg Opus 128 kb/s via PyAV, resampled to 22.05 kHz, trimmed by 10 % at the head
  and 5 % at the tail, peak-normalised to -1 dBFS, -9 dB gain). Pairs of the same recording are
  positives; pairs of different sounds (other takes of the same label included) are negatives.
  Pairwise precision/recall for a threshold sweep, with and without the duration-ratio rule; the
  threshold that maximises F1 is chosen on one half of the recordings and measured on the other
  (both ways);
- categorisation: leave-one-out top-1/top-3 of kNN and logistic regression vs. the
  majority-class baseline, at the UCS CatID level and at the UCS Category level.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARCADE = "arcade==3.3.2"
DEBIAN = "sound-theme-freedesktop"
SEED = 0

# label -> UCS CatID (our assignment; documented in benchmarks/README.md)
UCS_OF_LABEL = {
    "coin": "GAMEVideo",
    "error": "UIBeep",
    "explosion": "EXPLDsgn",
    "fall": "TOONWhis",
    "gameover": "TOONMx",
    "lose": "TOONMx",
    "hit": "FGHTImpt",
    "hurt": "VOXEfrt",
    "jump": "TOONBoing",
    "laser": "LASRGun",
    "upgrade": "UIAlert",
    "notification": "UIAlert",
    "speech": "VOXMisc",
    "phone": "COMTelph",
    **{
        f"footstep-{m}": "FEETHmn"
        for m in (
            "dirt",
            "grass",
            "gravel",
            "hard",
            "ice",
            "metal",
            "glass",
            "sand",
            "snow",
            "water",
            "wood",
        )
    },
    "dig": "TOOLHand",
    "place-block": "FOLYProp",
    "glass-break": "GLASBrk",
    "tool-break": "TOOLMisc",
    "lava": "GEOLava",
    "water-flow": "WATRFlow",
    "fire": "FIREBurn",
    "fire-out": "FIRESizz",
    "cart": "OBJWhled",
    "door": "DOORMisc",
    "chest": "OBJFurn",
    "harpsichord": "MUSCKeyd",
    "piano": "MUSCKeyd",
    "guitar": "MUSCPluck",
    "trumpet": "MUSCBrass",
    "percussion": "MUSCPerc",
    "window-motion": "UIMvmt",
    "login": "UIAlert",
}
_FREEDESKTOP_LABELS = {
    "audio-channel-": "speech",
    "phone-": "phone",
    **{
        name: "notification"
        for name in (
            "bell",
            "complete",
            "message",
            "message-new-instant",
            "dialog-information",
            "dialog-warning",
            "device-added",
            "device-removed",
            "service-login",
            "service-logout",
            "suspend-error",
            "audio-volume-change",
        )
    },
}
# (regular expression on the file stem without its take number, label); the first match wins
LABEL_RULES: dict[str, list[tuple[str, str]]] = {
    "minetest": [
        (r"default_(\w+)_footstep", "footstep-{0}"),
        (r"default_(dig_\w+|gravel_dig|ice_dig|dug_\w+|gravel_dug|ice_dug)", "dig"),
        (r"default_place_node\w*", "place-block"),
        (r"default_break_glass", "glass-break"),
        (r"default_tool_breaks", "tool-break"),
        (r"default_cool_lava|env_sounds_lava", "lava"),
        (r"env_sounds_water", "water-flow"),
        (r"fire_(fire|small|large)", "fire"),
        (r"fire_extinguish_flame", "fire-out"),
        (r"carts_cart_moving", "cart"),
        (r"(doors_\w*door|doors_fencegate|xpanes_steel_bar_door)_(open|close)", "door"),
        (r"default_chest_(open|close)", "chest"),
        (r"tnt_explode", "explosion"),
        (r"player_damage", "hurt"),
    ],
    "sound-icons": [
        (r"cembalo", "harpsichord"),
        (r"(electric-)?piano|klavichord", "piano"),
        (r"guitar", "guitar"),
        (r"trumpet", "trumpet"),
        (r"percussion", "percussion"),
    ],
    "oxygen": [
        (
            r"Oxygen-Window-(Minimize|Maximize|Move|Move-Stop|Shade-Up|Shade-Down|All-Desktops"
            r"|All-Desktops-Not|Close)",
            "window-motion",
        ),
        (r"Oxygen-Sys-Log-(In|Out)(-Long|-Short)?", "login"),
    ],
}
DEBIAN_SOURCES = {  # source name -> (Debian package, licence note, file suffixes)
    "freedesktop": (DEBIAN, "GPL-2+ / CC-BY-3.0 / CC-BY-SA-3.0 (package copyright)", (".oga",)),
    "minetest": ("minetest-data", "CC BY-SA 3.0 / CC0 (package copyright)", (".ogg",)),
    "sound-icons": ("sound-icons", "GPL-2+ (package copyright)", (".wav",)),
    "oxygen": ("oxygen-sounds", "CC BY-SA 3.0 / LGPL (package copyright)", (".ogg",)),
}
NEAR_DUP_EVERY = 4  # every 4th distinct sound gets the six copies (CPU); all are negatives
TRANSFORMS = ("mp3", "ogg", "resample22k", "trim", "normalise", "gain-9dB")


def label_of(source: str, stem: str) -> str:
    """The label a file's own name gives it ("" when it names nothing we label)."""
    import re

    if source == "arcade":
        word = stem.rstrip("0123456789")
        return word if word in UCS_OF_LABEL else ""
    if source == "freedesktop":
        for prefix, label in _FREEDESKTOP_LABELS.items():
            if stem == prefix or (prefix.endswith("-") and stem.startswith(prefix)):
                return label
        return ""
    base = re.sub(r"(\.\d+|-\d+)$", "", stem)  # the take number: "snow_footstep.3", "cembalo-12"
    for pattern, label in LABEL_RULES.get(source, []):
        m = re.fullmatch(pattern, base)
        if m:
            return label.format(*m.groups())
    return ""


# ------------------------------------------------------------------------------ fetching
class SourceUnavailable(RuntimeError):
    """A registry package could not be fetched (no network, no pip/apt-get)."""


def _run(cmd: list[str], **kw: Any) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300, **kw)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceUnavailable(f"{' '.join(cmd)}: {exc}") from exc


def fetch(work: Path) -> list[dict[str, Any]]:
    """Download (once) and unpack the sounds; one record per file.

    Raises :class:`SourceUnavailable` naming the command when a package cannot be fetched."""
    work.mkdir(parents=True, exist_ok=True)
    wheels = list(work.glob("arcade-*.whl"))
    if not wheels:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", ARCADE, "-d", str(work), "-q"])
        wheels = list(work.glob("arcade-*.whl"))
    out: list[dict[str, Any]] = []
    sounds = work / "sounds"
    with zipfile.ZipFile(wheels[0]) as z:
        for name in sorted(z.namelist()):
            if "/assets/sounds/" in name and name.lower().endswith((".wav", ".ogg", ".mp3")):
                dest = sounds / "arcade" / Path(name).name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
                out.append({"source": "arcade", "path": dest, "licence": "CC0-1.0 (Kenney.nl)"})
    for source, (package, licence, suffixes) in DEBIAN_SOURCES.items():
        debs = list(work.glob(f"{package}_*.deb"))
        if not debs:
            _run(["apt-get", "download", package], cwd=work)
            debs = list(work.glob(f"{package}_*.deb"))
        deb_dir = work / "deb" / package
        if not deb_dir.is_dir():
            tmp = deb_dir.with_name(package + ".part")
            tmp.mkdir(parents=True, exist_ok=True)
            _run(["dpkg-deb", "-x", str(debs[0]), str(tmp)])
            tmp.rename(deb_dir)
        for p in sorted(deb_dir.rglob("*")):
            # minetest-data also ships a test game's beeps ("devtest"): only minetest_game's Foley
            if p.suffix in suffixes and p.is_file() and "devtest" not in p.parts:
                out.append({"source": source, "path": p, "licence": licence})
    return out


# ------------------------------------------------------------------------------ transforms
def _encode_av(samples: np.ndarray, sr: int, fmt: str) -> tuple[np.ndarray, int]:
    """Round-trip through a lossy codec with PyAV: (decoded (channels, n) float32, its rate).

    Ogg holds Opus here (PyAV's FFmpeg has no usable Vorbis encoder); Opus runs at 48 kHz."""
    import av

    from sfxkit.media.audio import resample

    codec, container_fmt = {"mp3": ("libmp3lame", "mp3"), "ogg": ("libopus", "ogg")}[fmt]
    target = 48_000 if codec == "libopus" else min(sr, 48_000)  # MP3 stops at 48 kHz
    if sr != target:
        samples = resample(samples, sr, target)
        sr = target
    buf = io.BytesIO()
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    with av.open(buf, "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.bit_rate = 128_000
        stream.layout = layout
        frame_len = 960 if codec == "libopus" else 1152
        for s in range(0, samples.shape[1], frame_len):
            chunk = np.ascontiguousarray(samples[:, s : s + frame_len], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf) as inp:
        for frame in inp.decode(audio=0):
            chunks.append(frame.to_ndarray().reshape(samples.shape[0], -1))
    return np.concatenate(chunks, axis=1).astype(np.float32), sr


def transform(samples: np.ndarray, sr: int, kind: str) -> tuple[np.ndarray, int]:
    from sfxkit.media.audio import resample

    x = samples
    if kind in ("mp3", "ogg"):
        return _encode_av(x, sr, kind)
    if kind == "resample22k":
        return resample(x, sr, 22_050), 22_050
    if kind == "trim":
        n = x.shape[1]
        return x[:, int(0.10 * n) : n - int(0.05 * n)], sr
    if kind == "normalise":
        return x * (10 ** (-1 / 20) / max(float(np.abs(x).max()), 1e-9)), sr
    if kind == "gain-9dB":
        return x * 10 ** (-9 / 20), sr
    raise ValueError(kind)


# ------------------------------------------------------------------------------ encoders
def encoders(layouts: tuple[str, ...], peak: tuple[bool, ...]) -> dict[str, Any]:
    """``"{weights}/{layout}[/raw]"`` → encoder, pretrained and seeded random weights."""
    import torch

    from sfxkit.models.aisfx import DEFAULT_LAYOUT, AisfxEncoder, build_aisfx_net
    from sfxkit.models.registry import load_sfx_encoder

    torch.manual_seed(SEED)
    random_net = build_aisfx_net()
    pretrained = load_sfx_encoder("aisfx")
    out = {}
    for weights, net in (("pretrained", pretrained.model), ("random", random_net)):
        for layout in layouts:
            for norm in peak:
                name = f"{weights}/{layout}" + ("" if norm else "/raw")
                out[name] = AisfxEncoder(
                    net,
                    model_id=pretrained.model_id if weights == "pretrained" else "aisfx:random",
                    device="cpu",
                    untrained=weights == "random",
                    layout=layout,
                    peak_normalise=norm,
                )
    assert DEFAULT_LAYOUT in layouts
    return out


class WindowedClipEncoder:
    """Exploration only: the clip layout over windows of ``frames`` (hop half of it), the clip's
    vector the mean of its windows' — how much the whole-clip input matters."""

    def __init__(self, enc: Any, frames: int) -> None:
        self.enc, self.frames = enc, frames

    def encode_audio(self, waves: list[np.ndarray], *, sample_rate: int) -> np.ndarray:
        from sfxkit.models.aisfx import clip_input
        from sfxkit.models.base import l2_normalise

        out = []
        for i, w in enumerate(waves):
            spec = self.enc._spectrogram(w, sample_rate=sample_rate, index=i)
            hop = self.frames // 2
            starts = range(0, max(1, spec.shape[0] - self.frames + hop), hop)
            inputs = [clip_input(spec[s : s + self.frames]) for s in starts]
            if len({x.shape for x in inputs}) > 1:  # a short last window: its own batch
                vecs = np.concatenate([self.enc.embed_blocks(x[None]) for x in inputs])
            else:
                vecs = self.enc.embed_blocks(np.stack(inputs))
            out.append(vecs.mean(axis=0))
        return l2_normalise(np.stack(out))


# ------------------------------------------------------------------------------ metrics
def more_like_this(vecs: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Every labelled sound with another of its label is a query against all the others."""
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    lab = np.array(labels)
    n = len(lab)
    p5, r10, hit10, first, c_p5, c_r10, c_hit10 = [], [], [], [], [], [], []
    for i in np.flatnonzero(lab != ""):
        rel = int(np.sum(lab == lab[i])) - 1
        if rel == 0:
            continue
        order = np.argsort(-sims[i])[: n - 1]
        same = lab[order] == lab[i]
        p5.append(float(np.mean(same[:5])))
        r10.append(float(np.sum(same[:10])) / rel)
        hit10.append(float(same[:10].any()))
        first.append(int(np.argmax(same)) + 1)
        c_p5.append(rel / (n - 1))
        c_r10.append(min(10, n - 1) / (n - 1))
        # chance of at least one of `rel` relevant items among 10 random picks of n-1
        miss = 1.0
        for k in range(10):
            miss *= max(0.0, (n - 1 - rel - k) / (n - 1 - k))
        c_hit10.append(1.0 - miss)
    return {
        "p_at_5": float(np.mean(p5)),
        "r_at_10": float(np.mean(r10)),
        "hit_at_10": float(np.mean(hit10)),
        "median_first_rank": float(np.median(first)),
        "chance_p_at_5": float(np.mean(c_p5)),
        "chance_r_at_10": float(np.mean(c_r10)),
        "chance_hit_at_10": float(np.mean(c_hit10)),
        "queries": len(p5),
        "pool": n,
    }


def pair_scores(
    vecs: np.ndarray, origin: list[int], durations: list[float], mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine, positive flag and duration ratio of every pair among rows in ``mask``."""
    rows = np.flatnonzero(mask)
    sub = vecs[rows]
    sims = sub @ sub.T
    iu = np.triu_indices(len(rows), 1)
    org = np.array(origin)[rows]
    dur = np.array(durations)[rows]
    ratio = np.minimum(dur[iu[0]], dur[iu[1]]) / np.maximum(dur[iu[0]], dur[iu[1]])
    return sims[iu], org[iu[0]] == org[iu[1]], ratio


def pr(sims: np.ndarray, pos: np.ndarray, ratio: np.ndarray, t: float, min_ratio: float) -> dict:
    pred = (sims >= t) & (ratio >= min_ratio)
    tp = int(np.sum(pred & pos))
    fp = int(np.sum(pred & ~pos))
    fn = int(np.sum(~pred & pos))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"threshold": t, "precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


THRESHOLDS = [round(x, 3) for x in np.arange(0.80, 1.0, 0.005)]


def best_threshold(sims, pos, ratio, min_ratio) -> float:
    return max(THRESHOLDS, key=lambda t: (pr(sims, pos, ratio, t, min_ratio)["f1"], -t))


def neardup_report(vecs, origin, durations, min_ratio: float) -> dict[str, Any]:
    n_orig = max(origin) + 1
    # halves of the copied recordings (every NEAR_DUP_EVERY-th one): alternate copied sounds
    half = np.array([(o // NEAR_DUP_EVERY) % 2 for o in origin])
    everything = np.ones(len(origin), dtype=bool)
    s_all, p_all, r_all = pair_scores(vecs, origin, durations, everything)
    folds = []
    for fit, test in ((0, 1), (1, 0)):
        s_fit, p_fit, r_fit = pair_scores(vecs, origin, durations, half == fit)
        s_te, p_te, r_te = pair_scores(vecs, origin, durations, half == test)
        t = best_threshold(s_fit, p_fit, r_fit, min_ratio)
        folds.append({"fit_half": fit, **pr(s_te, p_te, r_te, t, min_ratio)})
    t_all = best_threshold(s_all, p_all, r_all, min_ratio)
    return {
        "recordings": n_orig,
        "files": len(origin),
        "positive_pairs": int(p_all.sum()),
        "negative_pairs": int((~p_all).sum()),
        "min_duration_ratio": min_ratio,
        "held_out": folds,
        "best_on_all": pr(s_all, p_all, r_all, t_all, min_ratio),
        "sweep": [pr(s_all, p_all, r_all, t, min_ratio) for t in THRESHOLDS[::4]],
        "hardest_negative": float(s_all[~p_all].max()),
        "weakest_positive": float(s_all[p_all].min()),
    }


def at_threshold(vecs, origin, durations, t: float, min_ratio: float) -> dict[str, Any]:
    s, p, r = pair_scores(vecs, origin, durations, np.ones(len(origin), dtype=bool))
    return pr(s, p, r, t, min_ratio)


def per_transform_recall(vecs, origin, kinds, durations, t, min_ratio) -> dict[str, float]:
    """Per transformation, the share of (original, its copy) pairs that are linked."""
    out = {}
    base = {o: i for i, (o, k) in enumerate(zip(origin, kinds, strict=True)) if k == "original"}
    for kind in sorted(set(kinds) - {"original"}):
        hits = []
        for i, (o, k) in enumerate(zip(origin, kinds, strict=True)):
            if k != kind:
                continue
            j = base[o]
            ratio = min(durations[i], durations[j]) / max(durations[i], durations[j])
            hits.append(float(vecs[i] @ vecs[j] >= t and ratio >= min_ratio))
        out[kind] = float(np.mean(hits))
    return out


def categorisation(vecs: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Leave-one-out accuracy at the UCS CatID level and at the UCS Category level."""
    from sfxkit.catalog.categorize import evaluate
    from sfxkit.catalog.ucs import ucs_table

    table = ucs_table()
    keep = [i for i, lab in enumerate(labels) if lab]
    catids = [UCS_OF_LABEL[labels[i]] for i in keep]
    categories = [table[c.lower()].category for c in catids]
    return {
        level: {m: evaluate(vecs[keep], targets, m).to_dict() for m in ("knn", "logreg")}
        for level, targets in (("catid", catids), ("category", categories))
    }


# ------------------------------------------------------------------------------ main
def load_sounds(work: Path) -> list[dict[str, Any]]:
    """The distinct recordings: one per stem (WAV preferred), exact PCM duplicates dropped."""
    from sfxkit.catalog.ucs import ucs_table
    from sfxkit.media.audio import load_audio, pcm_hash

    unknown = sorted(c for c in set(UCS_OF_LABEL.values()) if c.lower() not in ucs_table())
    assert not unknown, f"not UCS CatIDs: {unknown}"
    records = fetch(work)
    by_stem: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (r["path"].suffix != ".wav", str(r["path"]))):
        by_stem.setdefault((r["source"], r["path"].stem), r)
    originals, seen = [], set()
    for r in by_stem.values():
        audio = load_audio(r["path"])
        h = pcm_hash(audio)
        if h in seen:
            continue
        seen.add(h)
        originals.append({**r, "audio": audio, "label": label_of(r["source"], r["path"].stem)})
    return originals


def embed(
    enc: Any, waves: list[np.ndarray], rates: list[int], cache: Path | None = None
) -> np.ndarray:
    """Vectors of ``waves`` (cached under ``cache``: keyed by the audio and the variant)."""
    import hashlib

    key = hashlib.sha256(repr(cache).encode())
    for w, sr in zip(waves, rates, strict=True):
        key.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
        key.update(str(sr).encode())
    path = None if cache is None else cache.with_name(f"{cache.name}-{key.hexdigest()[:16]}.npy")
    if path is not None and path.is_file():
        return np.load(path)
    vecs = np.concatenate(
        [enc.encode_audio([w], sample_rate=sr) for w, sr in zip(waves, rates, strict=True)]
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
    return vecs


def run(
    work: Path, *, near_dups: bool = True, explore: bool = False, only: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Every metric for every variant; with ``only``, just those variants' vectors (cached under
    ``work``, so that variants can be embedded by parallel processes and reported by one)."""
    from sfxkit.index.neardup import MIN_DURATION_RATIO, NEAR_DUP_THRESHOLD
    from sfxkit.models.aisfx import LAYOUTS

    originals = load_sounds(work)
    # the near-duplicate set: originals and six transforms of each
    waves, sample_rates, origin, kinds = [], [], [], []
    for i, o in enumerate(originals):
        x, sr = o["audio"].samples, o["audio"].sample_rate
        waves.append(x)
        sample_rates.append(sr)
        origin.append(i)
        kinds.append("original")
        if not near_dups or i % NEAR_DUP_EVERY:
            continue
        for kind in TRANSFORMS:
            y, ysr = transform(x, sr, kind)
            waves.append(y)
            sample_rates.append(ysr)
            origin.append(i)
            kinds.append(kind)
    durations = [w.shape[1] / sr for w, sr in zip(waves, sample_rates, strict=True)]

    sources: dict[str, str] = {
        "arcade": f"pip download --no-deps {ARCADE} (arcade/resources/assets/sounds, CC0)"
    }
    for source, (package, licence, _) in DEBIAN_SOURCES.items():
        sources[source] = f"apt-get download {package} ({licence})"
    labels = [o["label"] for o in originals]
    results: dict[str, Any] = {
        "sources": sources,
        "distinct_sounds": len(originals),
        "by_source": {src: sum(1 for o in originals if o["source"] == src) for src in sources},
        "labelled": sum(1 for lab in labels if lab),
        "labels": {lab: labels.count(lab) for lab in sorted(set(labels) - {""})},
        "ucs_of_label": UCS_OF_LABEL,
        "transforms": list(TRANSFORMS) if near_dups else [],
        "copied_sounds": sum(1 for k in kinds if k == "mp3"),
        "shipped_threshold": NEAR_DUP_THRESHOLD,
        "shipped_min_duration_ratio": MIN_DURATION_RATIO,
        "models": {},
    }
    orig_rows = [i for i, k in enumerate(kinds) if k == "original"]
    ow = [waves[i] for i in orig_rows]
    orates = [sample_rates[i] for i in orig_rows]
    encs = encoders(LAYOUTS, (True, False) if explore else (True,))
    cache = work / "vectors"
    tasks: list[tuple[str, Any, bool]] = []  # (name, encoder, with the near-duplicate copies)
    for name, enc in encs.items():
        if name.startswith("random/") and name.endswith("/raw"):
            continue  # the normalisation question is one for the trained network
        main_variant = name.count("/") == 1  # peak-normalised: what sfxkit runs
        tasks.append((name, enc, near_dups and main_variant))
        if explore and enc.layout == "clip" and main_variant and not enc.untrained:
            for frames in (100, 400):
                tasks.append((f"{name}/windows{frames}", WindowedClipEncoder(enc, frames), False))
    for name, enc, with_copies in tasks:
        if only and name not in only:
            continue
        print(f"embedding: {name}", file=sys.stderr, flush=True)
        slot = cache / name.replace("/", "_")
        if with_copies:
            vecs = embed(enc, waves, sample_rates, slot)
            ov = vecs[orig_rows]
        else:
            ov = embed(enc, ow, orates, slot)
        if only:
            continue  # vectors cached for the run that reports
        entry: dict[str, Any] = {
            "more_like_this": more_like_this(ov, labels),
            "categorisation": categorisation(ov, labels),
        }
        if with_copies:
            entry["near_duplicates"] = {
                "cosine_only": neardup_report(vecs, origin, durations, 0.0),
                "cosine_and_duration": neardup_report(vecs, origin, durations, MIN_DURATION_RATIO),
                "shipped": at_threshold(
                    vecs, origin, durations, NEAR_DUP_THRESHOLD, MIN_DURATION_RATIO
                ),
                "shipped_recall_by_transform": per_transform_recall(
                    vecs, origin, kinds, durations, NEAR_DUP_THRESHOLD, MIN_DURATION_RATIO
                ),
            }
        results["models"][name] = entry
    return results


def summary_lines(results: dict[str, Any]) -> list[str]:
    out = []
    for name, m in results["models"].items():
        mlt = m["more_like_this"]
        cat = m["categorisation"]["catid"]
        line = (
            f"{name:32s} P@5 {mlt['p_at_5']:.3f} (chance {mlt['chance_p_at_5']:.3f}) R@10 "
            f"{mlt['r_at_10']:.3f} (chance {mlt['chance_r_at_10']:.3f}) median rank "
            f"{mlt['median_first_rank']:.0f} | CatID knn {cat['knn']['top1']:.3f} logreg "
            f"{cat['logreg']['top1']:.3f} (majority {cat['knn']['majority_baseline']:.3f})"
        )
        if "near_duplicates" in m:
            nd = m["near_duplicates"]["cosine_and_duration"]["best_on_all"]
            line += (
                f" | near-dup best t={nd['threshold']} P {nd['precision']:.3f} R {nd['recall']:.3f}"
            )
        out.append(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "sfxkit-aisfx-real"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/aisfx_real.json")
    ap.add_argument("--no-near-dups", action="store_true", help="skip the transformed copies")
    ap.add_argument(
        "--fetch-only", action="store_true", help="download and unpack the sounds, then stop"
    )
    ap.add_argument(
        "--no-explore",
        action="store_true",
        help="skip the pretrained network on unnormalised audio and on windowed clip inputs",
    )
    ap.add_argument("--only", nargs="*", default=(), help="embed (and cache) only these variants")
    args = ap.parse_args()
    if args.fetch_only:
        print(f"{len(fetch(args.work))} sound files under {args.work}")
        return
    results = run(
        args.work,
        near_dups=not args.no_near_dups,
        explore=not args.no_explore,
        only=tuple(args.only),
    )
    if args.only:
        return
    from sfxkit._atomic import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(results, indent=2))
    print("\n".join(summary_lines(results)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
