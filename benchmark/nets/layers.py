"""Building blocks of the NCSN++ family as used by brever's `DiffusionUNet` (block type `ncsn`).

Only what the paper's networks use is here: FIR resampling, the Gaussian Fourier noise embedding,
the residual block, single-head self-attention and the progressive (`skip`) auxiliary paths.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def group_norm(channels: int) -> nn.GroupNorm:
    # 32 groups but never fewer than 4 channels per group, so narrow presets still normalise
    # over several channels; eps 1e-6 as in score_sde / sgmse.
    groups = max(1, min(32, channels // 4))
    if channels % groups:
        raise ValueError(f"a GroupNorm over {channels} channels would need {groups} groups, which do not "
                         f"divide it; pick base_channels and channel_mult so that every width (and the "
                         f"sum of two widths at a decoder skip) is a multiple of {groups}")
    return nn.GroupNorm(groups, channels, eps=1e-6)


def _fir_dtype(x: Tensor) -> torch.dtype:
    """fp32 for reduced-precision inputs (see FIRResampler), else the input's own (fp64 stays fp64)."""
    return torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else x.dtype


class FIRResampler(nn.Module):
    """Factor-2 up/down sampling with a separable FIR kernel (default [1, 3, 3, 1]).

    Down: depthwise stride-2 convolution with the normalised 2-D kernel. Up: the transposed
    operation with the kernel scaled by 4 (the factor-2 zero-stuffing in each axis loses 3/4 of
    the energy). Instead of brever's stack of stored paddings, the caller passes the size to
    return to, which gives the same paddings and keeps the module stateless, so any frame count
    (odd ones included) round-trips exactly.
    """

    def __init__(self, fir_kernel: list[float]):
        super().__init__()
        k = torch.as_tensor(fir_kernel, dtype=torch.float32)
        if k.ndim != 1 or k.numel() < 2:
            raise ValueError(f"fir_kernel must be a list of at least 2 taps, got {fir_kernel!r}")
        k2 = torch.outer(k, k)
        self.register_buffer("kernel", (k2 / k2.sum())[None, None], persistent=False)

    def _pads(self, size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        n = self.kernel.shape[-1]
        # Even sizes halve exactly; odd sizes get one extra pad so the output is ceil(size / 2).
        pad = tuple(math.ceil(n / 2) - 1 if d % 2 == 0 else math.ceil((n + 1) / 2) - 1 for d in size)
        out_pad = tuple((d + 2 * p - n) % 2 for d, p in zip(size, pad))
        return pad, out_pad

    # Both directions run in fp32 even under bf16 autocast: on CPU, bf16 depthwise convolutions
    # fall back to a slow native kernel (7× slower than fp32 at 64 channels × 16 × 24), and the
    # fixed smoothing kernel gains nothing from low precision. Measured: a training step of the
    # small net 318 → 287 ms (perf/train_step.py).
    def down(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        pad, _ = self._pads(tuple(x.shape[-2:]))
        dtype = _fir_dtype(x)
        w = self.kernel.to(dtype).expand(c, 1, -1, -1)
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(x.to(dtype), w, stride=2, padding=pad, groups=c)

    def up(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Upsample to `size`, the spatial size of the tensor that `down` was applied to."""
        c = x.shape[1]
        pad, out_pad = self._pads(tuple(size))
        dtype = _fir_dtype(x)
        w = (4 * self.kernel).to(dtype).expand(c, 1, -1, -1)
        with torch.autocast(x.device.type, enabled=False):
            return F.conv_transpose2d(x.to(dtype), w, stride=2, padding=pad, output_padding=out_pad, groups=c)


class NoiseEmbedding(nn.Module):
    """c_noise → Gaussian Fourier features → Linear → SiLU → Linear → SiLU.

    Fourier features [sin 2π b c, cos 2π b c] with fixed b ~ N(0, scale²) (Song et al. 2021,
    after Tancik et al. 2020). The second SiLU is applied once here rather than in every block.
    """

    def __init__(self, fourier_channels: int, emb_channels: int, scale: float = 16.0):
        super().__init__()
        if fourier_channels % 2:
            raise ValueError(f"fourier_channels must be even, got {fourier_channels}")
        # A buffer, not a parameter: the frequencies are never trained. Saved in checkpoints so a
        # reloaded net sees the same features regardless of the seed at construction time.
        self.register_buffer("freqs", torch.randn(fourier_channels // 2) * scale)
        self.linear_1 = nn.Linear(fourier_channels, emb_channels)
        self.linear_2 = nn.Linear(emb_channels, emb_channels)

    def forward(self, c_noise: Tensor) -> Tensor:
        phase = 2 * math.pi * torch.outer(c_noise.float(), self.freqs)
        h = torch.cat([phase.sin(), phase.cos()], dim=-1)
        return F.silu(self.linear_2(F.silu(self.linear_1(h))))


class SelfAttention(nn.Module):
    """Single-head attention over all time-frequency positions, softmax(qᵀk/√C) v, with 1×1
    projections and a residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, f, t = x.shape
        h = self.norm(x)
        q, k, v = (proj(h).flatten(2).transpose(1, 2) for proj in (self.q, self.k, self.v))
        # scaled_dot_product_attention's default scale is 1/√C, the score_sde convention.
        a = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(a.transpose(1, 2).reshape(b, c, f, t))


class ResBlock(nn.Module):
    """NCSN++ residual block (BigGAN-style, Song et al. 2021):

        h = conv3(resample(SiLU(GN(x)))) + Linear(emb)
        h = conv3(dropout(SiLU(GN(h))))
        out = skip_scale · (skip(resample(x)) + h)        [then optionally attention, also scaled]

    `skip` is a 1×1 conv when the channel count changes or the block resamples.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        emb_ch: int,
        *,
        skip_scale: float,
        dropout: float,
        attention: bool = False,
        resample: str | None = None,
        resampler: FIRResampler | None = None,
    ):
        super().__init__()
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down', got {resample!r}")
        if resample is not None and resampler is None:
            raise ValueError("a resampling block needs a resampler")
        self.resample = resample
        self.resampler = resampler
        self.skip_scale = skip_scale
        self.norm_1 = group_norm(in_ch)
        self.conv_1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_ch, out_ch)
        self.norm_2 = group_norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv_2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if (in_ch != out_ch or resample) else None
        self.attn = SelfAttention(out_ch) if attention else None

    def _resample(self, x: Tensor, size: tuple[int, int] | None) -> Tensor:
        if self.resample == "down":
            return self.resampler.down(x)
        if self.resample == "up":
            return self.resampler.up(x, size)
        return x

    def forward(self, x: Tensor, emb: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        h = F.silu(self.norm_1(x))
        h = self.conv_1(self._resample(h, size))
        x = self._resample(x, size)
        h = h + self.emb_proj(emb)[:, :, None, None]
        h = self.conv_2(self.dropout(F.silu(self.norm_2(h))))
        if self.skip is not None:
            x = self.skip(x)
        x = self.skip_scale * (x + h)
        if self.attn is not None:
            x = self.skip_scale * self.attn(x)
        return x


class AuxDown(nn.Module):
    """Progressive input path (`skip` encoder): the network input, FIR-downsampled once more per
    level, is added to the main path through a 1×1 conv."""

    def __init__(self, in_ch: int, out_ch: int, resampler: FIRResampler):
        super().__init__()
        self.resampler = resampler
        self.conv = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor, aux: Tensor) -> tuple[Tensor, Tensor]:
        aux = self.resampler.down(aux)
        return x + self.conv(aux), aux


class AuxUp(nn.Module):
    """Progressive output path (`skip` decoder): each level adds conv3(SiLU(GN(x))) to the running
    output, which is FIR-upsampled to the next finer level first."""

    def __init__(self, in_ch: int, out_ch: int, resampler: FIRResampler | None):
        super().__init__()
        self.resampler = resampler
        self.norm = group_norm(in_ch)
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x: Tensor, aux: Tensor | None) -> Tensor:
        h = self.conv(F.silu(self.norm(x)))
        if aux is None:
            return h
        return self.resampler.up(aux, tuple(x.shape[-2:])) + h
