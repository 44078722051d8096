"""Where the time goes in `sfxkit.soundtrack`: a 60 s video with the tiny models, per stage,
with layers (``layers="auto"``: a bed per scene, a spot per event) against today's per-shot mode
(``layers="shot"``) in the same run.

Builds (in a temporary folder) a small synthesised SFX catalog (ambiences filed as AMB, and
one-shots) and its index with the tiny untrained encoders, and a 60 s H.264 video of ``--shots``
drawn shots framing four drawn places (three shots each: four scenes) with squares appearing in
every third shot (``--events`` visible events each). Then runs :func:`sfxkit.soundtrack` in each
mode ``--warmup`` times unmeasured (default 0: model loading has its own stage) and ``--repeat``
times measured (median), and reports the seconds per stage as soundtrack records them:

- ``load``: building the models (the encoders are already cached by the index build);
- ``decode``: shot detection, keyframes, motion profiles (every shot's, for events, in layer
  mode), event frames, reading catalog sounds;
- ``encode``: CLIP on the keyframes (and event frames); ``search``: FAISS;
- ``plan``: grouping scenes, rescoring bed/spot candidates (layer mode only);
- ``generate``: MMAudio (tiny variant, ``--steps`` sampler steps) for each generated cue;
- ``mix``: fitting/shaping layers, the timeline mix (loudness, limiter), measuring;
- ``export``: stems, mix, muxed video, cue sheets, provenance.

For scale it also times the raw library underneath in the same run: one PyAV decode of every
frame of the video (``raw_pyav_decode``), and prints ``decode / raw_pyav_decode``.
The default policy is ``blend`` so every shot both retrieves and generates (each stage is
exercised); ``--policy auto`` gives what the tiny, untrained scores decide. The tiny models are
untrained: the timings say where the pipeline spends time, nothing about sound quality, and the
real models' encode/generate costs are far higher (see benchmarks/generate.py).

    OMP_NUM_THREADS=2 python benchmarks/soundtrack.py
    python benchmarks/soundtrack.py --device cuda --steps 25

Writes ``benchmarks/results/soundtrack.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("SFXKIT_PROGRESS", "0")
os.environ.setdefault("SFXKIT_OFFLINE", "1")

from sfxkit.editorial.options import STAGES  # noqa: E402
from tests import synth  # noqa: E402

PLACES = ("street", "sea", "forest", "room")
# Where each of a place's three shots frames it (x, y) in the 112 px drawing.
FRAMINGS = ((0, 0), (40, 30), (20, 44))


def make_catalog(root: Path) -> Path:
    """A dozen short sounds in a few formats: enough for FAISS and the fitting code to work."""
    lib = root / "library"
    synth.write_audio(lib / "weather" / "rain.wav", synth.noise(4.0, channels=2, band=(2000, 9000)))
    synth.write_audio(lib / "foley" / "footsteps_gravel.flac", synth.clicks(3.0, 2.0))
    synth.write_audio(lib / "foley" / "knock_door.wav", synth.clicks(1.0, 3.0, amp=0.6))
    synth.write_audio(
        lib / "vehicles" / "engine_idle.ogg", synth.tone(80, 6.0) + synth.tone(160, 6.0, amp=0.2)
    )
    synth.write_audio(lib / "ui" / "beep_short.wav", synth.tone(1000, 0.6))
    synth.write_audio(lib / "water" / "stream.wav", synth.noise(5.0, band=(300, 3000), seed=5))
    synth.write_audio(lib / "wind" / "wind_gusts.flac", synth.noise(8.0, band=(100, 800), seed=6))
    synth.write_audio(lib / "glass" / "glass_break.wav", synth.noise(1.0, seed=4, amp=0.9))
    synth.write_audio(lib / "hum" / "room_hum.wav", synth.tone(60, 10.0, amp=0.2))
    synth.write_audio(lib / "birds" / "chirps.wav", synth.tone(3000, 2.0, amp=0.3))
    synth.write_audio(lib / "amb" / "city_distant.wav", synth.noise(12.0, band=(80, 1500), seed=8))
    synth.write_audio(lib / "amb" / "forest_air.wav", synth.noise(12.0, band=(1500, 6000), seed=9))
    (lib / "sfxkit.csv").write_text(
        "file,title,licence,category\n"
        "amb/city_distant.wav,City ambience distant,CC0,AMB\n"
        "amb/forest_air.wav,Forest air ambience,CC0,AMB\n"
        "hum/room_hum.wav,Room tone hum,CC0,AMB\n"
    )
    return lib


def make_film(path: Path, seconds: float, shots: int, events: int, fps: int = 25) -> Path:
    """``shots`` shots over four places (three consecutive shots per place, then the next
    place), ``events`` squares appearing in every third shot."""
    n = int(round(seconds * fps / shots))
    plan = [(PLACES[(i // 3) % len(PLACES)], *FRAMINGS[i % 3], n) for i in range(shots)]
    marks = [
        (i, int((j + 1) * n / (events + 1))) for i in range(1, shots, 3) for j in range(events)
    ]
    video, _, _ = synth.make_layered_video(path, fps=fps, shots=plan, events=marks)
    return video


def scene_calibration(video: Path, rec: object, scene_seconds: float) -> dict:
    """Similarities of consecutive shots (keyframe to keyframe, tiny CLIP image space) within a
    drawn place and across a place change, and the threshold that separates them."""
    import numpy as np

    from sfxkit.editorial.options import DEFAULT_SCENE_THRESHOLD
    from sfxkit.editorial.plan import calibrate_scene_threshold, group_scenes, shot_candidates

    found = shot_candidates(video, rec, k=1)  # type: ignore[arg-type]
    e = found.embeddings / np.linalg.norm(found.embeddings, axis=1, keepdims=True)
    place = [int(s.keyframe_time // scene_seconds) for s in found.shots]
    same, different = [], []
    for i in range(1, len(found.shots)):
        (same if place[i] == place[i - 1] else different).append(float(e[i] @ e[i - 1]))
    threshold = calibrate_scene_threshold(same, different)
    return {
        "within_place": [round(min(same), 4), round(max(same), 4)],
        "across_places": [round(min(different), 4), round(max(different), 4)],
        "calibrated_threshold": round(threshold, 4),
        "default_threshold": DEFAULT_SCENE_THRESHOLD,
        "scenes_at_default": len(
            group_scenes(found.shots, found.embeddings, DEFAULT_SCENE_THRESHOLD)
        ),
    }


def raw_decode_seconds(video: Path) -> tuple[float, int]:
    import av

    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as c:
        for _ in c.decode(video=0):
            n += 1
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--shots", type=int, default=12)
    ap.add_argument("--events", type=int, default=3, help="events in every third shot")
    ap.add_argument("--policy", default="blend")
    ap.add_argument("--variant", default="tiny_16k")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "soundtrack.json")
    args = ap.parse_args()

    import torch

    from sfxkit import build_index
    from sfxkit.editorial import soundtrack
    from sfxkit.recommender import Recommender

    with tempfile.TemporaryDirectory(prefix="sfxkit-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        lib = make_catalog(root)
        build_index(lib, root / "index", models="tiny", progress=False)
        build_s = time.perf_counter() - t0
        video = make_film(root / "film.mp4", args.seconds, args.shots, args.events)
        rec = Recommender(root / "index", device=args.device)
        kw = dict(
            policy=args.policy,
            variant=args.variant,
            steps=args.steps,
            device=args.device,
            progress=False,
        )
        runs: dict[str, list[tuple[float, dict]]] = {"shot": [], "auto": []}
        for mode in runs:
            for w in range(args.warmup):
                soundtrack(video, rec, out=root / f"warm-{mode}{w}", layers=mode, **kw)
            for r in range(args.repeat):
                t0 = time.perf_counter()
                res = soundtrack(video, rec, out=root / f"run-{mode}{r}", layers=mode, **kw)
                runs[mode].append((time.perf_counter() - t0, res.stats))
        raw_s, frames = min(raw_decode_seconds(video) for _ in range(3))
        scenes = scene_calibration(video, rec, args.seconds / args.shots * 3)

    def summary(mode: str) -> dict:
        done = runs[mode]
        stages = {s: statistics.median(st["seconds"].get(s, 0.0) for _, st in done) for s in STAGES}
        total = statistics.median(t for t, _ in done)
        stats = done[-1][1]
        return {
            "cues": stats["cues"],
            "scenes": stats["scenes"],
            "decisions": stats["decisions"],
            "total_seconds": round(total, 3),
            "stages_seconds": {s: round(v, 4) for s, v in stages.items()},
            "stage_share": {s: round(v / total, 4) for s, v in stages.items()} if total else {},
            "slowest_stage": max(stages, key=stages.__getitem__),
            "realtime_factor": round(total / args.seconds, 4),
            "decode_vs_raw_pyav": round(stages["decode"] / raw_s, 2) if raw_s else None,
            "mix_loudness": round(stats["loudness"], 2),
            "mix_true_peak_dbtp": round(stats["true_peak_dbtp"], 2),
        }

    shot, auto = summary("shot"), summary("auto")
    doc = {
        "what": "sfxkit.soundtrack wall time per stage, tiny untrained models (not quality): "
        "layers='auto' (beds + spots) against layers='shot' (one sound per shot), same run",
        "video": {
            "seconds": args.seconds,
            "shots_made": args.shots,
            "shots_detected": runs["shot"][-1][1]["shots"],
            "scenes_made": -(-args.shots // 3),
            "events_made": args.events * len(range(1, args.shots, 3)),
            "size": 64,
            "frames": frames,
        },
        "policy": args.policy,
        "variant": args.variant,
        "steps": args.steps,
        "device": str(args.device or "auto"),
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "index_build_seconds": round(build_s, 3),
        "warmup": args.warmup,
        "repeat": args.repeat,
        "raw_pyav_decode_seconds": round(raw_s, 4),
        "scene_threshold": scenes,
        "layers_shot": shot,
        "layers_auto": auto,
        "auto_vs_shot_total": round(auto["total_seconds"] / shot["total_seconds"], 3),
        "auto_vs_shot_per_stage": {
            s: round(auto["stages_seconds"][s] / v, 3) if v > 0 else None
            for s, v in shot["stages_seconds"].items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
