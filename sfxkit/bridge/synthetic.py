"""A procedurally generated audio-visual world with known ground truth, for the bridge benchmark
(``benchmarks/bridge_synthetic.py``) and tests. Not used by the library itself.

**Sounds.** ``n_classes`` sound classes (dog, cat, bird, ...), each in ``len(VARIANTS)`` variants
(tiny, small, big, huge): one catalog item per (class, variant). A class has its own pitch
(harmonic tone at ``150 * 2**(0.45 * class)`` Hz plus a little noise), a variant its own pulse
rate (1.5 to 12 Hz), so every item sounds different. Titles read like a library's ("Huge Dog
bark"), except that a fraction of items (``uninformative``) are titled "Take NN", as real
libraries have files whose names say nothing.

**Frames.** A class is drawn as a shape in a colour on a dark background; the variant sets the
shape's size. Video frames ("user footage") add camera noise, colour and size jitter, a small
drift and, in most frames (``distractor``), a second shape of another class passing through (as
big as a "small" item): single frames are often ambiguous, a whole shot much less. Each video
is a sequence of shots (hard cuts, a new background per shot) showing one item each; half of a
video's shots come from a few favourite items, as real footage repeats its subjects.

**Warm-up.** A tiny untrained CLIP knows nothing, so zero-shot text→image matching would be pure
chance. :func:`warm_up_clip` trains the tiny open_clip model briefly (seeded) on clean renders
("web images": no noise, no jitter, no distractors) paired with the template describer's captions
of the *true* titles, 30% of them replaced by a random other item's caption. The result is a
CLIP whose zero-shot matching on the noisier video frames is weak but well above chance, the
regime in which real zero-shot CLIP works on SFX descriptions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# name, action (title words), shape, colour (RGB)
CLASSES: tuple[tuple[str, str, str, tuple[int, int, int]], ...] = (
    ("Dog", "bark", "circle", (150, 90, 40)),
    ("Cat", "meow", "square", (240, 140, 20)),
    ("Bird", "chirp", "triangle", (240, 220, 30)),
    ("Horse", "gallop", "hbar", (120, 60, 20)),
    ("Door", "slam", "vbar", (160, 110, 70)),
    ("Car", "pass by", "diamond", (220, 30, 30)),
    ("Gun", "shot", "cross", (90, 90, 90)),
    ("Bell", "ring", "ring", (230, 190, 60)),
    ("Phone", "ring", "square", (40, 90, 230)),
    ("Clock", "tick", "ring", (240, 240, 240)),
    ("Ball", "bounce", "circle", (40, 200, 60)),
    ("Bottle", "drop", "vbar", (60, 200, 200)),
)
# adjective, shape radius as a fraction of the frame, sound pulse rate (Hz)
VARIANTS: tuple[tuple[str, float, float], ...] = (
    ("Tiny", 0.16, 1.5),
    ("Small", 0.28, 3.0),
    ("Big", 0.44, 6.0),
    ("Huge", 0.64, 12.0),
)
# A class that is not in the catalog: frames of it should not give a confident match.
OUTSIDER: tuple[str, str, str, tuple[int, int, int]] = ("Lamp", "buzz", "x", (200, 60, 200))
SR = 48_000


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    n_classes: int = 12
    uninformative: float = 0.25
    size: int = 64
    background_max: int = 110
    noise: float = 5.0
    colour_jitter: float = 12.0
    position_jitter: float = 0.02
    distractor: float = 0.6
    distractor_size: float = 0.25
    distractor_colour: float = 1.0
    # A colour grade on the user's footage (per-channel gain), absent from the warm-up renders.
    grade: tuple[float, float, float] = (1.0, 1.0, 1.0)
    sound_seconds: float = 1.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorldItem:
    key: int  # index in the world
    cls: int
    variant: int
    title: str
    true_title: str
    informative: bool

    @property
    def category(self) -> str:
        return CLASSES[self.cls][0].upper()

    @property
    def file_name(self) -> str:
        return f"sfx_{self.key:03d}.wav"


@dataclass(frozen=True)
class Shot:
    video: str
    start: float
    end: float
    item: int  # WorldItem.key, or -1 for the out-of-catalog class


class World:
    """The items of one seeded world and how to draw and sound them."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        c = self.config
        if not 1 <= c.n_classes <= len(CLASSES):
            raise ValueError(f"n_classes must be in 1..{len(CLASSES)}")
        rng = np.random.default_rng(c.seed)
        n = c.n_classes * len(VARIANTS)
        vague = set(rng.choice(n, int(round(c.uninformative * n)), replace=False).tolist())
        items = []
        for k in range(n):
            cls, var = divmod(k, len(VARIANTS))
            true = f"{VARIANTS[var][0]} {CLASSES[cls][0]} {CLASSES[cls][1]}"
            items.append(
                WorldItem(
                    k, cls, var, f"Take {k:02d}" if k in vague else true, true, k not in vague
                )
            )
        self.items: tuple[WorldItem, ...] = tuple(items)

    # ------------------------------------------------------------------------- pixels
    def draw(
        self,
        item: int,
        rng: np.random.Generator,
        *,
        clean: bool = False,
        background: np.ndarray | None = None,
        drift: tuple[float, float] = (0.0, 0.0),
        distractor: tuple[int, float, float] | None = None,
    ) -> np.ndarray:
        """One ``size x size`` RGB frame of ``item`` (-1: the out-of-catalog class).

        ``distractor`` = (class, x, y) draws a second shape of that class there first (behind
        the subject); ``clean`` draws the bare subject centred, no noise or jitter.
        """
        c = self.config
        size = c.size
        if item >= 0:
            it = self.items[item]
            _, _, shape, colour = CLASSES[it.cls]
            radius = VARIANTS[it.variant][1] * size / 2
        else:
            _, _, shape, colour = OUTSIDER
            radius = 0.4 * size / 2
        bg = background if background is not None else rng.integers(0, c.background_max, 3)
        img = np.empty((size, size, 3), dtype=np.float32)
        img[:] = bg
        if clean:
            _shape(img, shape, np.asarray(colour, np.float32), size / 2, size / 2, radius)
            return np.clip(img, 0, 255).astype(np.uint8)
        if distractor is not None:
            other = CLASSES[distractor[0]]
            _shape(img, other[2], np.asarray(other[3], np.float32) * c.distractor_colour,
                   distractor[1], distractor[2], size * c.distractor_size)  # fmt: skip
        col = np.clip(np.asarray(colour, np.float32) + rng.normal(0, c.colour_jitter, 3), 0, 255)
        j = size * c.position_jitter
        cx = size / 2 + drift[0] + rng.uniform(-j, j)
        cy = size / 2 + drift[1] + rng.uniform(-j, j)
        _shape(img, shape, col, cx, cy, radius * rng.uniform(0.85, 1.15))
        img += rng.normal(0, c.noise, img.shape).astype(np.float32)
        img *= np.asarray(c.grade, dtype=np.float32)
        return np.clip(img, 0, 255).astype(np.uint8)

    def shot_frames(
        self, item: int, n_frames: int, rng: np.random.Generator, background: np.ndarray
    ) -> list[np.ndarray]:
        """The frames of one shot: the subject drifts a little; with probability ``distractor``
        a shape of another class passes through for 30-80% of the shot."""
        c = self.config
        size = c.size
        direction = rng.uniform(-1, 1, 2) * size * 0.04 / max(n_frames, 1)
        passer: tuple[int, int, int, np.ndarray, np.ndarray] | None = None
        if rng.random() < c.distractor:
            length = max(1, int(round(rng.uniform(0.3, 0.8) * n_frames)))
            start = int(rng.integers(0, n_frames - length + 1))
            a, b = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
            passer = (int(rng.integers(c.n_classes)), start, start + length, a, b)
        frames = []
        for f in range(n_frames):
            d = None
            if passer is not None and passer[1] <= f < passer[2]:
                u = (f - passer[1]) / max(passer[2] - passer[1] - 1, 1)
                x, y = passer[3] + u * (passer[4] - passer[3])
                d = (passer[0], float(x), float(y))
            frames.append(
                self.draw(
                    item, rng, background=background, drift=tuple(direction * f), distractor=d
                )
            )
        return frames

    # -------------------------------------------------------------------------- sound
    def sound(self, item: int, seed: int = 0) -> np.ndarray:
        """``(1, samples)`` float32 at 48 kHz."""
        it = self.items[item]
        rng = np.random.default_rng(seed)
        n = int(self.config.sound_seconds * SR)
        t = np.arange(n) / SR
        f = 150.0 * 2.0 ** (0.45 * it.cls)
        rate = VARIANTS[it.variant][2]
        envelope = 0.5 * (1 + np.sign(np.sin(2 * np.pi * rate * t))) * 0.8 + 0.2
        x = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)
        x = x + 0.05 * rng.standard_normal(n)
        return (0.4 * x * envelope).astype(np.float32)[None, :]

    # ---------------------------------------------------------------------- on disk
    def write_library(self, folder: str | Path) -> Path:
        """Every item as ``sfx_NNN.wav`` plus a sidecar ``sfxkit.csv`` (title, category)."""
        import soundfile as sf

        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        lines = ["file,title,category,licence"]
        for it in self.items:
            sf.write(str(root / it.file_name), self.sound(it.key).T, SR, subtype="PCM_16")
            lines.append(f"{it.file_name},{it.title},{it.category},CC0")
        (root / "sfxkit.csv").write_text("\n".join(lines) + "\n")
        return root

    def write_videos(
        self,
        folder: str | Path,
        n_videos: int,
        *,
        seed: int,
        shots: int = 6,
        shot_seconds: tuple[float, float] = (0.8, 1.2),
        fps: int = 25,
        favourites: int = 3,
        outsider: float = 0.0,
        prefix: str = "video",
    ) -> list[Shot]:
        """Encode ``n_videos`` H.264 videos of shots; return every shot's ground truth.

        Half of a video's shots show one of its ``favourites`` items, the rest any item; with
        ``outsider`` > 0 that share of shots shows the out-of-catalog class instead.
        """
        import av

        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        size = self.config.size
        n_items = len(self.items)
        truth: list[Shot] = []
        for v in range(n_videos):
            path = root / f"{prefix}_{v:03d}.mp4"
            fav = rng.integers(n_items, size=favourites)
            t = 0.0
            with av.open(str(path), "w") as container:
                stream = container.add_stream("libx264", rate=fps)
                stream.options = {"preset": "ultrafast", "crf": "18"}
                stream.width = stream.height = size
                stream.pix_fmt = "yuv420p"
                bg = rng.integers(0, self.config.background_max, 3)
                for _ in range(shots):
                    if outsider and rng.random() < outsider:
                        item = -1
                    elif rng.random() < 0.5:
                        item = int(fav[rng.integers(favourites)])
                    else:
                        item = int(rng.integers(n_items))
                    n_frames = int(round(rng.uniform(*shot_seconds) * fps))
                    # A new background clearly unlike the last one, so every cut is a cut.
                    previous = bg
                    for _ in range(100):
                        bg = rng.integers(0, self.config.background_max, 3)
                        if np.abs(bg - previous).max() >= 45:
                            break
                    for img in self.shot_frames(item, n_frames, rng, bg):
                        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                        for packet in stream.encode(frame):
                            container.mux(packet)
                    truth.append(Shot(str(path.resolve()), t, t + n_frames / fps, item))
                    t += n_frames / fps
                for packet in stream.encode(None):
                    container.mux(packet)
        return truth

    def truth_at(self, shots: Sequence[Shot], video: str, time: float) -> int:
        """The item shown in ``video`` at ``time`` (-1 for the outsider or no shot)."""
        for s in shots:
            if s.video == video and s.start - 1e-6 <= time < s.end + 1e-6:
                return s.item
        return -1


def _shape(img: np.ndarray, shape: str, colour: np.ndarray, cx: float, cy: float, r: float) -> None:
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    if shape == "circle":
        m = dx**2 + dy**2 < r**2
    elif shape == "square":
        m = (np.abs(dx) < r * 0.85) & (np.abs(dy) < r * 0.85)
    elif shape == "triangle":
        m = (dy < r * 0.8) & (dy > -r) & (np.abs(dx) < (dy + r) * 0.6)
    elif shape == "hbar":
        m = (np.abs(dx) < r) & (np.abs(dy) < r * 0.35)
    elif shape == "vbar":
        m = (np.abs(dx) < r * 0.35) & (np.abs(dy) < r)
    elif shape == "diamond":
        m = np.abs(dx) + np.abs(dy) < r
    elif shape == "cross":
        m = ((np.abs(dx) < r * 0.3) & (np.abs(dy) < r)) | (
            (np.abs(dy) < r * 0.3) & (np.abs(dx) < r)
        )
    elif shape == "ring":
        d = np.sqrt(dx**2 + dy**2)
        m = (d < r) & (d > r * 0.6)
    elif shape == "x":
        m = (np.abs(dx - dy) < r * 0.3) | (np.abs(dx + dy) < r * 0.3)
        m &= (np.abs(dx) < r) & (np.abs(dy) < r)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    img[m] = colour


# ------------------------------------------------------------------------------- warm-up


def warm_up_clip(
    encoder: Any,
    world: World,
    *,
    steps: int = 300,
    batch_size: int = 64,
    caption_noise: float = 0.3,
    bank: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Train the tiny CLIP in ``encoder`` (an OpenClipEncoder) in place; see the module docstring.

    The token embedding stays frozen (it is 49408 x 32, the bulk of the tiny model's weights and
    of its update cost). Returns the final loss and the seconds taken.
    """
    import time

    import torch
    from torch.nn import functional as F

    from sfxkit.catalog.describe import TemplateDescriber
    from sfxkit.catalog.schema import CatalogItem

    t0 = time.perf_counter()
    model = encoder.model
    rng = np.random.default_rng(seed)
    n = len(world.items)
    fake = [
        CatalogItem(id=f"{k:016x}", path=f"/world/{k}.wav", title=it.true_title)
        for k, it in enumerate(world.items)
    ]
    captions = TemplateDescriber().describe(fake, n=3)
    tokens = encoder.tokenizer([c for cs in captions for c in cs])
    labels = rng.integers(n, size=bank)
    pixels = encoder.preprocess([world.draw(int(k), rng, clean=True) for k in labels])
    loss_value = float("nan")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.token_embedding.weight.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        model.train()
        for _ in range(steps):
            pick = rng.integers(bank, size=batch_size)
            items = labels[pick]
            noisy = np.where(
                rng.random(batch_size) < caption_noise, rng.integers(n, size=batch_size), items
            )
            cap = noisy * 3 + rng.integers(3, size=batch_size)
            zi = F.normalize(model.encode_image(pixels[pick]), dim=-1)
            zt = F.normalize(model.encode_text(tokens[cap]), dim=-1)
            logits = model.logit_scale.exp() * zi @ zt.T
            same = torch.from_numpy(items[:, None] == items[None, :]) & ~torch.eye(
                batch_size, dtype=torch.bool
            )
            logits = logits.masked_fill(same, -1e4)  # frames of one item are not negatives
            target = torch.arange(batch_size)
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_value = float(loss.detach())
        model.token_embedding.weight.requires_grad_(True)
    model.eval()
    return {"loss": loss_value, "seconds": time.perf_counter() - t0, "steps": float(steps)}


def save_open_clip_dir(encoder: Any, directory: str | Path) -> Path:
    """Save an open_clip model as ``open_clip_config.json`` + ``open_clip_model.safetensors``, the
    layout ``open_clip:local-dir:<directory>`` loads."""
    from safetensors.torch import save_file

    from sfxkit.models.tiny import tiny_open_clip_config

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    pre = (
        encoder.model.visual.preprocess_cfg
        if hasattr(encoder.model.visual, "preprocess_cfg")
        else {}
    )
    config = {"model_cfg": tiny_open_clip_config(), "preprocess_cfg": dict(pre)}
    (d / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.model.state_dict().items()}
    save_file(state, str(d / "open_clip_model.safetensors"))
    return d
