"""aiSFX on real, freely licensed sounds: more-like-this, near-duplicates, categorisation.

    python benchmarks/aisfx_real.py --out benchmarks/results/aisfx_real.json

The script fetches its sounds itself from package registries (nothing is committed):

- ``pip download --no-deps arcade==3.3.2``: the 57 game sounds in ``arcade/resources/assets/
  sounds`` (Kenney.nl, CC0 per the wheel's ``sounds/License.txt``);
- ``apt-get download sound-theme-freedesktop`` (Debian 0.8-2): 27 desktop sounds (GPL-2+,
  CC-BY-3.0 and CC-BY-SA-3.0 per file, see the package's ``copyright``).

Labels (:data:`LABELS`) are the file names' own words (``coin3.wav`` is a coin); each label is
assigned a UCS CatID (:data:`UCS_OF_LABEL`) for the categorisation task. Files with a copy in
another format in the wheel (``laser1``, ``phaseJump1``, ``rockHit2``) count once (the WAV): their
OGG/MP3 files are other edits (``laser1.ogg`` lasts 1.6 s, the WAV 0.16 s), not re-encodes.

Every metric is computed for the pretrained aiSFX network (``sfxkit models pull aisfx``) and for
the same network at seeded random weights, in one run:

- "more like this" P@5 within label over the distinct sounds (chance level reported);
- near-duplicates: every distinct sound, and for each one six transformed copies made here (MP3
  128 kb/s and Ogg Opus 128 kb/s via PyAV, resampled to 22.05 kHz, trimmed by 10 % at the head and 5 % at
  the tail, peak-normalised to -1 dBFS, -9 dB gain). Pairs of the same recording are positives;
  pairs of different sounds (other takes of the same label included) are negatives. Pairwise
  precision/recall for a threshold sweep, with and without the duration-ratio rule; the threshold
  that maximises F1 is chosen on one half of the recordings and measured on the other (both ways);
- categorisation: leave-one-out top-1/top-3 of kNN and logistic regression vs. the
  majority-class baseline.
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
TRANSFORMS = ("mp3", "ogg", "resample22k", "trim", "normalise", "gain-9dB")


def label_of(source: str, stem: str) -> str:
    """The label a file's own name gives it ("" when it names nothing we label)."""
    if source == "arcade":
        word = stem.rstrip("0123456789")
        return word if word in UCS_OF_LABEL else ""
    for prefix, label in _FREEDESKTOP_LABELS.items():
        if stem == prefix or (prefix.endswith("-") and stem.startswith(prefix)):
            return label
    return ""


# ------------------------------------------------------------------------------ fetching
def fetch(work: Path) -> list[dict[str, Any]]:
    """Download (once) and unpack the sounds; one record per file."""
    work.mkdir(parents=True, exist_ok=True)
    wheels = list(work.glob("arcade-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", ARCADE, "-d", str(work), "-q"],
            check=True,
        )
        wheels = list(work.glob("arcade-*.whl"))
    debs = list(work.glob(f"{DEBIAN}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", DEBIAN], cwd=work, check=True)
        debs = list(work.glob(f"{DEBIAN}_*.deb"))
    out: list[dict[str, Any]] = []
    sounds = work / "sounds"
    with zipfile.ZipFile(wheels[0]) as z:
        for name in sorted(z.namelist()):
            if "/assets/sounds/" in name and name.lower().endswith((".wav", ".ogg", ".mp3")):
                dest = sounds / "arcade" / Path(name).name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
                out.append({"source": "arcade", "path": dest, "licence": "CC0-1.0 (Kenney.nl)"})
    deb_dir = work / "deb"
    if not deb_dir.is_dir():
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(deb_dir)], check=True)
    for p in sorted(deb_dir.rglob("*.oga")):
        out.append({"source": "freedesktop", "path": p, "licence": "see the package copyright"})
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
def encoders() -> dict[str, Any]:
    import torch

    from sfxkit.models.aisfx import AisfxEncoder, build_aisfx_net
    from sfxkit.models.registry import load_sfx_encoder

    torch.manual_seed(SEED)
    random_net = build_aisfx_net()
    return {
        "pretrained": load_sfx_encoder("aisfx"),
        "random": AisfxEncoder(random_net, model_id="aisfx:random", device="cpu", untrained=True),
    }


# ------------------------------------------------------------------------------ metrics
def p_at_5(vecs: np.ndarray, labels: list[str]) -> dict[str, float]:
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    lab = np.array(labels)
    hits, chance = [], []
    for i in np.flatnonzero(lab != ""):
        top = np.argsort(-sims[i])[:5]
        hits.append(float(np.mean(lab[top] == lab[i])))
        chance.append((np.sum(lab == lab[i]) - 1) / (len(lab) - 1))
    return {"p_at_5": float(np.mean(hits)), "chance": float(np.mean(chance)), "queries": len(hits)}


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
    half = np.array([o % 2 for o in origin])
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
    from sfxkit.catalog.categorize import evaluate

    keep = [i for i, lab in enumerate(labels) if lab]
    catids = [UCS_OF_LABEL[labels[i]] for i in keep]
    return {m: evaluate(vecs[keep], catids, m).to_dict() for m in ("knn", "logreg")}


# ------------------------------------------------------------------------------ main
def run(work: Path) -> dict[str, Any]:
    from sfxkit.index.neardup import MIN_DURATION_RATIO, NEAR_DUP_THRESHOLD
    from sfxkit.media.audio import load_audio, pcm_hash

    records = fetch(work)
    # distinct recordings: one per stem (WAV preferred), exact PCM duplicates dropped
    by_stem: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (r["path"].suffix != ".wav", str(r["path"]))):
        key = (r["source"], r["path"].stem)
        by_stem.setdefault(key, r)
    originals, seen = [], set()
    for r in by_stem.values():
        audio = load_audio(r["path"])
        h = pcm_hash(audio)
        if h in seen:
            continue
        seen.add(h)
        originals.append({**r, "audio": audio, "label": label_of(r["source"], r["path"].stem)})

    # the near-duplicate set: originals and six transforms of each
    waves, sample_rates, origin, kinds = [], [], [], []
    for i, o in enumerate(originals):
        x, sr = o["audio"].samples, o["audio"].sample_rate
        waves.append(x)
        sample_rates.append(sr)
        origin.append(i)
        kinds.append("original")
        for kind in TRANSFORMS:
            y, ysr = transform(x, sr, kind)
            waves.append(y)
            sample_rates.append(ysr)
            origin.append(i)
            kinds.append(kind)
    durations = [w.shape[1] / sr for w, sr in zip(waves, sample_rates, strict=True)]

    results: dict[str, Any] = {
        "sources": {
            "arcade": f"pip download --no-deps {ARCADE} (arcade/resources/assets/sounds, CC0)",
            "freedesktop": f"apt-get download {DEBIAN} (GPL-2+ / CC-BY-3.0 / CC-BY-SA-3.0)",
        },
        "distinct_sounds": len(originals),
        "labelled": sum(1 for o in originals if o["label"]),
        "labels": {
            lab: sum(1 for o in originals if o["label"] == lab)
            for lab in sorted({o["label"] for o in originals if o["label"]})
        },
        "ucs_of_label": UCS_OF_LABEL,
        "transforms": list(TRANSFORMS),
        "shipped_threshold": NEAR_DUP_THRESHOLD,
        "shipped_min_duration_ratio": MIN_DURATION_RATIO,
        "models": {},
    }
    labels = [o["label"] for o in originals]
    orig_rows = [i for i, k in enumerate(kinds) if k == "original"]
    for name, enc in encoders().items():
        vecs = np.concatenate(
            [
                enc.encode_audio([w], sample_rate=sr)
                for w, sr in zip(waves, sample_rates, strict=True)
            ]
        )
        ov = vecs[orig_rows]
        results["models"][name] = {
            "more_like_this": p_at_5(ov, labels),
            "near_duplicates": {
                "cosine_only": neardup_report(vecs, origin, durations, 0.0),
                "cosine_and_duration": neardup_report(vecs, origin, durations, MIN_DURATION_RATIO),
                "shipped": at_threshold(
                    vecs, origin, durations, NEAR_DUP_THRESHOLD, MIN_DURATION_RATIO
                ),
                "shipped_recall_by_transform": per_transform_recall(
                    vecs, origin, kinds, durations, NEAR_DUP_THRESHOLD, MIN_DURATION_RATIO
                ),
            },
            "categorisation": categorisation(ov, labels),
        }
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "sfxkit-aisfx-real"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/aisfx_real.json")
    args = ap.parse_args()
    results = run(args.work)
    from sfxkit._atomic import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(results, indent=2))
    for name, m in results["models"].items():
        nd = m["near_duplicates"]["cosine_and_duration"]["best_on_all"]
        sh = m["near_duplicates"]["shipped"]
        cat = m["categorisation"]
        print(
            f"{name:10s} P@5 {m['more_like_this']['p_at_5']:.3f} (chance "
            f"{m['more_like_this']['chance']:.3f}) | near-dup best t={nd['threshold']} "
            f"P {nd['precision']:.3f} R {nd['recall']:.3f}; shipped t={sh['threshold']} "
            f"P {sh['precision']:.3f} R {sh['recall']:.3f} | knn top1 {cat['knn']['top1']:.3f} "
            f"top3 {cat['knn']['top3']:.3f}, logreg top1 {cat['logreg']['top1']:.3f} top3 "
            f"{cat['logreg']['top3']:.3f}, majority {cat['knn']['majority_baseline']:.3f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
