"""Where the time goes in `sfxkit.soundtrack`: a 60 s video with the tiny models, per stage.

Builds (in a temporary folder) a small synthesised SFX catalog and its index with the tiny
untrained encoders, and a 60 s H.264 video of ``--shots`` drawn shots with moving squares. Then
runs :func:`sfxkit.soundtrack` ``--warmup`` times unmeasured (default 0: model loading has its
own stage) and ``--repeat`` times measured (median), and reports the seconds per stage as
soundtrack records them:

- ``load``: building the models (the encoders are already cached by the index build);
- ``decode``: shot detection, keyframes, motion profiles, reading catalog sounds;
- ``encode``: CLIP on the keyframes; ``search``: FAISS;
- ``generate``: MMAudio (tiny variant, ``--steps`` sampler steps) for each generated shot;
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

SCENES = ("red", "checker", "circle", "stripes", "green", "noise", "blue")


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
    return lib


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
    ap.add_argument("--size", type=int, default=128, help="video width = height in pixels")
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
        per = args.seconds / args.shots
        video = synth.make_video(
            root / "film.mp4",
            [(SCENES[i % len(SCENES)], per) for i in range(args.shots)],
            moving=True,
            size=args.size,
        )
        rec = Recommender(root / "index", device=args.device)
        kw = dict(
            policy=args.policy,
            variant=args.variant,
            steps=args.steps,
            device=args.device,
            progress=False,
        )
        for w in range(args.warmup):
            soundtrack(video, rec, out=root / f"warm{w}", **kw)
        runs = []
        for r in range(args.repeat):
            t0 = time.perf_counter()
            res = soundtrack(video, rec, out=root / f"run{r}", **kw)
            runs.append((time.perf_counter() - t0, res.stats))
        raw_s, frames = min(raw_decode_seconds(video) for _ in range(3))

    stages = {s: statistics.median(st["seconds"][s] for _, st in runs) for s in STAGES}
    total = statistics.median(t for t, _ in runs)
    slowest = max(stages, key=stages.__getitem__)
    stats = runs[-1][1]
    doc = {
        "what": "sfxkit.soundtrack wall time per stage, tiny untrained models (not quality)",
        "video": {
            "seconds": args.seconds,
            "shots_made": args.shots,
            "shots_detected": stats["shots"],
            "size": args.size,
            "frames": frames,
        },
        "policy": args.policy,
        "decisions": stats["decisions"],
        "variant": args.variant,
        "steps": args.steps,
        "device": str(args.device or "auto"),
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "index_build_seconds": round(build_s, 3),
        "warmup": args.warmup,
        "repeat": args.repeat,
        "total_seconds": round(total, 3),
        "stages_seconds": {s: round(v, 4) for s, v in stages.items()},
        "stage_share": {s: round(v / total, 4) for s, v in stages.items()} if total else {},
        "slowest_stage": slowest,
        "realtime_factor": round(total / args.seconds, 4),
        "raw_pyav_decode_seconds": round(raw_s, 4),
        "decode_vs_raw_pyav": round(stages["decode"] / raw_s, 2) if raw_s else None,
        "mix_loudness": round(stats["loudness"], 2),
        "mix_true_peak_dbtp": round(stats["true_peak_dbtp"], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
