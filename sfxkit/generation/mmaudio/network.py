"""The MMAudio flow network: predicts the flow velocity of audio latents given video and text.

Streams: audio latents (``latent_dim`` channels, ~31 or ~43 tokens/s), CLIP frame features
(8 fps), Synchformer features (24 tokens/s, aligned to the latents and added to the latent
stream's condition) and CLIP text tokens (77). ``joint_blocks`` attend over latent+CLIP+text;
``fused_blocks`` run on the latent stream alone. Parameter names follow the official checkpoints
so that they load with ``strict=True``.

Everything that does not depend on the noisy latent or the time (input projections of the
conditions, the sync upsampling, the pooled global conditions) is computed once per clip by
:meth:`FlowNetwork.preprocess_conditions`; a sampler step only runs :meth:`FlowNetwork.predict_flow`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfxkit.generation.mmaudio.layers import (
    FinalBlock,
    GatedConvMLP,
    GatedMLP,
    JointBlock,
    ModulatedBlock,
    RopeTables,
    SeqConv1d,
    TimestepEmbedder,
)
from sfxkit.generation.mmaudio.rope import rope_tables
from sfxkit.generation.mmaudio.variants import (
    SYNC_TOKENS_PER_SEGMENT,
    TRAINING_DURATION,
    NetworkConfig,
    sequence_geometry,
)

# Checkpoint entries that some releases carry but that are derived, not learned.
DERIVED_KEYS = ("t_embed.freqs", "latent_rot", "clip_rot")


@dataclass(frozen=True)
class Conditions:
    """Projected conditions for a batch, reused by every sampler step."""

    clip: Tensor  # (B, clip_len, D)
    sync: Tensor  # (B, latent_len, D), upsampled to the latent rate
    text: Tensor  # (B, text_len, D)
    clip_global: Tensor  # (B, D)
    text_global: Tensor  # (B, D)

    @property
    def batch_size(self) -> int:
        return self.clip.shape[0]

    def expand(self, batch_size: int) -> Conditions:
        """Broadcast a batch-1 condition (e.g. the empty one) to ``batch_size`` (no copy)."""

        def grow(x: Tensor) -> Tensor:
            return x.expand(batch_size, *x.shape[1:])

        return Conditions(*(grow(x) for x in self.tensors()))

    def tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return self.clip, self.sync, self.text, self.clip_global, self.text_global

    @staticmethod
    def concat(parts: list[Conditions]) -> Conditions:
        """Stack along the batch (e.g. conditional and unconditional for one CFG forward)."""
        return Conditions(
            *(torch.cat(xs, dim=0) for xs in zip(*(p.tensors() for p in parts), strict=True))
        )


class FlowNetwork(nn.Module):
    """MMAudio's multimodal transformer (v1 or v2 projections, any depth/width)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        dims = config.dims
        d = config.hidden_dim
        self.latent_dim = dims.latent_dim
        self.hidden_dim = d
        self.num_heads = config.num_heads

        # v2 inserts SiLU where v1 had SELU or nothing, which shifts the Sequential indices.
        act: type[nn.Module] = nn.SiLU if config.v2 else nn.SELU
        self.audio_input_proj = nn.Sequential(
            SeqConv1d(dims.latent_dim, d, kernel_size=7, padding=3),
            act(),
            GatedConvMLP(d, d * 4, kernel_size=7),
        )
        self.clip_input_proj = nn.Sequential(
            nn.Linear(dims.clip_dim, d),
            *([nn.SiLU()] if config.v2 else []),
            GatedConvMLP(d, d * 4, kernel_size=3),
        )
        self.sync_input_proj = nn.Sequential(
            SeqConv1d(dims.sync_dim, d, kernel_size=7, padding=3),
            act(),
            GatedConvMLP(d, d * 4, kernel_size=3),
        )
        self.text_input_proj = nn.Sequential(
            nn.Linear(dims.text_dim, d),
            *([nn.SiLU()] if config.v2 else []),
            GatedMLP(d, d * 4),
        )
        self.clip_cond_proj = nn.Linear(d, d)
        self.text_cond_proj = nn.Linear(d, d)
        self.global_cond_mlp = GatedMLP(d, d * 4)
        # Each Synchformer window yields 8 tokens; they get a learned position within the window.
        self.sync_pos_emb = nn.Parameter(torch.zeros(1, 1, SYNC_TOKENS_PER_SEGMENT, dims.sync_dim))
        self.final_layer = FinalBlock(d, dims.latent_dim)
        if config.v2:
            self.t_embed = TimestepEmbedder(d, frequency_size=d, max_period=1)
        else:
            self.t_embed = TimestepEmbedder(d, frequency_size=256, max_period=10000)
        n_joint = config.joint_depth
        self.joint_blocks = nn.ModuleList(
            JointBlock(d, config.num_heads, mlp_ratio=config.mlp_ratio, pre_only=i == n_joint - 1)
            for i in range(n_joint)
        )
        self.fused_blocks = nn.ModuleList(
            ModulatedBlock(d, config.num_heads, mlp_ratio=config.mlp_ratio, kernel_size=3)
            for _ in range(config.fused_depth)
        )
        # Statistics of the VAE latents and the learned "no condition" features. They are
        # Parameters (not buffers) because that is how the checkpoints store them.
        self.latent_mean = nn.Parameter(torch.zeros(1, 1, dims.latent_dim), requires_grad=False)
        self.latent_std = nn.Parameter(torch.ones(1, 1, dims.latent_dim), requires_grad=False)
        self.empty_string_feat = nn.Parameter(
            torch.zeros(dims.text_seq_len, dims.text_dim), requires_grad=False
        )
        self.empty_clip_feat = nn.Parameter(torch.zeros(1, dims.clip_dim))
        self.empty_sync_feat = nn.Parameter(torch.zeros(1, dims.sync_dim))

        self._rope: dict[torch.device, tuple[RopeTables, RopeTables]] = {}
        geo = sequence_geometry(TRAINING_DURATION, config.mode)
        self.update_seq_lengths(geo.latent_seq_len, geo.clip_seq_len, geo.sync_seq_len)

    # ----------------------------------------------------------------------------------- lengths

    def update_seq_lengths(self, latent_seq_len: int, clip_seq_len: int, sync_seq_len: int) -> None:
        """Set the token counts of the next clips; the rotary tables follow."""
        if sync_seq_len % SYNC_TOKENS_PER_SEGMENT:
            raise ValueError(f"sync_seq_len must be a multiple of 8, got {sync_seq_len}")
        self.latent_seq_len = latent_seq_len
        self.clip_seq_len = clip_seq_len
        self.sync_seq_len = sync_seq_len
        self._rope.clear()

    def set_duration(self, duration: float) -> None:
        geo = sequence_geometry(duration, self.config.mode)
        self.update_seq_lengths(geo.latent_seq_len, geo.clip_seq_len, geo.sync_seq_len)

    def rope(self, device: torch.device) -> tuple[RopeTables, RopeTables]:
        tables = self._rope.get(device)
        if tables is None:
            head_dim = self.hidden_dim // self.num_heads
            latent = rope_tables(self.latent_seq_len, head_dim, device=device)
            # CLIP tokens are sparser in time; scale so both streams rotate alike per second.
            clip = rope_tables(
                self.clip_seq_len,
                head_dim,
                freq_scaling=self.latent_seq_len / self.clip_seq_len,
                device=device,
            )
            tables = (latent, clip)
            self._rope[device] = tables
        return tables

    # ------------------------------------------------------------------------- (un)normalisation

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.latent_mean) / self.latent_std

    def unnormalize(self, x: Tensor) -> Tensor:
        return x * self.latent_std + self.latent_mean

    # ------------------------------------------------------------------------------- conditions

    def empty_clip(self, batch_size: int) -> Tensor:
        return self.empty_clip_feat.unsqueeze(0).expand(batch_size, self.clip_seq_len, -1)

    def empty_sync(self, batch_size: int) -> Tensor:
        return self.empty_sync_feat.unsqueeze(0).expand(batch_size, self.sync_seq_len, -1)

    def empty_text(self, batch_size: int) -> Tensor:
        return self.empty_string_feat.unsqueeze(0).expand(batch_size, -1, -1)

    def preprocess_conditions(self, clip: Tensor, sync: Tensor, text: Tensor) -> Conditions:
        """Project the raw features once per clip: ``(B, clip_len, clip_dim)``,
        ``(B, sync_len, sync_dim)``, ``(B, 77, text_dim)``."""
        expected = (self.clip_seq_len, self.sync_seq_len, self.config.dims.text_seq_len)
        got = (clip.shape[1], sync.shape[1], text.shape[1])
        if got != expected:
            raise ValueError(
                f"condition lengths (clip, sync, text) = {got} do not match the network's {expected}; "
                "call update_seq_lengths/set_duration for this duration first"
            )
        b = clip.shape[0]
        sync = sync.reshape(b, -1, SYNC_TOKENS_PER_SEGMENT, sync.shape[-1]) + self.sync_pos_emb
        sync = self.sync_input_proj(sync.flatten(1, 2))
        clip = self.clip_input_proj(clip)
        text = self.text_input_proj(text)
        # Align the 24 tokens/s sync stream to the latent rate.
        sync = F.interpolate(sync.transpose(1, 2), size=self.latent_seq_len, mode="nearest-exact")
        sync = sync.transpose(1, 2)
        return Conditions(
            clip=clip,
            sync=sync,
            text=text,
            clip_global=self.clip_cond_proj(clip.mean(dim=1)),
            text_global=self.text_cond_proj(text.mean(dim=1)),
        )

    def empty_conditions(
        self, batch_size: int, *, negative_text: Tensor | None = None
    ) -> Conditions:
        """The unconditional branch of CFG: learned empty video features, and either the learned
        empty string or the negative prompt's text features on the text stream."""
        text = self.empty_text(1) if negative_text is None else negative_text
        # Batch 1 for the shared video part; a negative prompt may already carry the full batch.
        cond = self.preprocess_conditions(self.empty_clip(1), self.empty_sync(1), text)
        return cond.expand(batch_size)

    # ------------------------------------------------------------------------------------- flow

    def predict_flow(
        self, latent: Tensor, t: Tensor, conditions: Conditions, *, repeat: int = 1
    ) -> Tensor:
        """Velocity ``(B', N, latent_dim)`` for latents ``(B, N, latent_dim)`` at times ``t`` (B,).

        With ``repeat > 1`` the conditions hold ``repeat`` groups of B samples (e.g. conditional
        and unconditional) sharing the same latents and times: the latent projection and time
        embedding are computed once and tiled, and ``B' = repeat * B``.
        """
        if latent.shape[1] != self.latent_seq_len:
            raise ValueError(
                f"latent length {latent.shape[1]} != network's {self.latent_seq_len}; "
                "call update_seq_lengths/set_duration first"
            )
        x = self.audio_input_proj(latent)
        t_emb = self.t_embed(t)
        if repeat > 1:
            x = x.repeat(repeat, 1, 1)
            t_emb = t_emb.repeat(repeat, 1)
        clip, text, sync = conditions.clip, conditions.text, conditions.sync
        global_c = self.global_cond_mlp(conditions.clip_global + conditions.text_global)
        global_c = t_emb.unsqueeze(1) + global_c.unsqueeze(1)  # (B, 1, D)
        extended_c = global_c + sync  # (B, N, D): per-token condition of the latent stream
        latent_rope, clip_rope = self.rope(x.device)
        for block in self.joint_blocks:
            x, clip, text = block(x, clip, text, global_c, extended_c, latent_rope, clip_rope)
        for fused in self.fused_blocks:
            x = fused(x, extended_c, latent_rope)
        # The checkpoints were trained with the global (not the per-token) condition here.
        return self.final_layer(x, global_c)

    def forward(
        self, latent: Tensor, clip: Tensor, sync: Tensor, text: Tensor, t: Tensor
    ) -> Tensor:
        return self.predict_flow(latent, t, self.preprocess_conditions(clip, sync, text))

    @property
    def device(self) -> torch.device:
        return self.latent_mean.device

    @property
    def dtype(self) -> torch.dtype:
        return self.latent_mean.dtype


def build_network(
    config: NetworkConfig, *, device: str | torch.device = "cpu", seed: int | None = None
) -> FlowNetwork:
    """A network on ``device`` (``"meta"`` allocates nothing); with ``seed``, random weights."""
    with torch.device(device):
        net = FlowNetwork(config)
    if seed is not None:
        randomize_(net, seed)
    return net.eval()


@torch.no_grad()
def randomize_(net: nn.Module, seed: int) -> nn.Module:
    """Fill every parameter with seeded random values, scaled by fan-in so activations stay O(1).

    Unlike a training init nothing is zeroed (the reference zero-initialises the modulation and
    output layers, which would make an untrained network's velocity identically zero)."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in net.named_parameters():
        if name.endswith("latent_std"):
            values = 0.5 + torch.rand(p.shape, generator=gen)
        elif p.ndim >= 2 and not name.endswith(("_feat", "pos_emb", "latent_mean")):
            fan_in = p[0].numel()
            values = torch.randn(p.shape, generator=gen) / fan_in**0.5
        else:
            values = 0.1 * torch.randn(p.shape, generator=gen)
        p.copy_(values.to(p.dtype))
    return net
