"""NCSN++ U-Net for complex spectrograms, with the layer structure of brever's `DiffusionUNet`
(block type `ncsn`), so that the presets have exactly the paper's parameter counts.

Input  x: [B, in_channels, F, T]  (Re/Im of the state and Re/Im of y), c_noise: [B].
Output    [B, out_channels, F, T], the raw network output F_θ (preconditioning lives elsewhere).
Any F and T ≥ 1 work: every downsampling remembers the size it came from and the matching
upsampling returns to it.

`patch` = p > 1 folds each p × p tile of bins and frames into channels before the U-Net
(space-to-depth, `pixel_unshuffle`) and unfolds the output after it, so no layer runs at full
resolution. Why: on a CPU the full-resolution 16-channel convolutions are memory-bound (45 GFLOP/s
against 83 for 32 channels at half resolution, the same FLOPs; docs/performance.md), and they
carried most of the small net's step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from benchmark.nets.layers import AuxDown, AuxUp, FIRResampler, NoiseEmbedding, ResBlock, group_norm

PATH_TYPES = ("skip", "standard")


@dataclass(frozen=True)
class NCSNppSettings:
    """Every architectural setting; the names follow brever's `net_*` options."""

    base_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_blocks_per_res: int = 1
    # Only used to decide where `attn_resolutions` applies: level i has num_freqs >> i bins.
    num_freqs: int = 256
    attn_resolutions: tuple[int, ...] = ()
    attn_bottleneck: bool = True
    noise_channel_mult: int = 2  # Fourier feature size = base_channels · this
    emb_channel_mult: int = 4  # noise embedding size = base_channels · this
    fourier_scale: float = 16.0
    fir_kernel: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)
    # "skip": sgmse's progressive input/output paths (input_skip / output_skip, summed).
    # "standard": no auxiliary path; the decoder ends in GN → conv3 instead.
    encoder_type: str = "skip"
    decoder_type: str = "skip"
    skip_scale: float = 0.5**0.5
    # 0.0 in brever HEAD and sgmse; 0.1 in score_sde / EDM and older brever commits.
    dropout: float = 0.0
    aux_out_channels: int = 4
    in_channels: int = 4
    out_channels: int = 2
    # Space-to-depth factor: 1 runs at the spectrogram's own resolution (every paper net).
    patch: int = 1

    def __post_init__(self):
        # Lists from YAML become tuples so settings stay hashable and comparable.
        for name in ("channel_mult", "attn_resolutions", "fir_kernel"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        for name in ("base_channels", "num_blocks_per_res", "num_freqs", "noise_channel_mult",
                     "emb_channel_mult", "aux_out_channels", "in_channels", "out_channels", "patch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not self.channel_mult or any(not isinstance(m, int) or m < 1 for m in self.channel_mult):
            problems.append(f"channel_mult must be a non-empty list of positive integers, "
                            f"got {list(self.channel_mult)!r}")
        for name in ("encoder_type", "decoder_type"):
            if getattr(self, name) not in PATH_TYPES:
                problems.append(f"{name} must be one of {PATH_TYPES}, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        if problems:
            raise ValueError("invalid network settings: " + "; ".join(problems))

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class NCSNpp(nn.Module):
    def __init__(self, settings: NCSNppSettings | None = None):
        super().__init__()
        s = self.settings = settings if settings is not None else NCSNppSettings()
        base = s.base_channels
        emb_ch = base * s.emb_channel_mult
        chans = [base * m for m in s.channel_mult]
        levels = len(chans)
        last = levels - 1
        block = dict(emb_ch=emb_ch, skip_scale=s.skip_scale, dropout=s.dropout)
        in_ch, out_ch = s.in_channels * s.patch**2, s.out_channels * s.patch**2

        self.resampler = FIRResampler(list(s.fir_kernel))
        self.emb = NoiseEmbedding(base * s.noise_channel_mult, emb_ch, s.fourier_scale)
        self.input_conv = nn.Conv2d(in_ch, base, 3, padding=1)

        # Encoder: per level, `num_blocks_per_res` blocks then (except at the coarsest level) one
        # downsampling block. Every block output except the downsampling one is kept for the
        # decoder, as is each level's output after the auxiliary input is added.
        self.encoder = nn.ModuleList()
        self.aux_down = nn.ModuleList()
        skip_chans = [base]
        ch = base
        for i, out in enumerate(chans):
            attn = (s.num_freqs >> i) in s.attn_resolutions
            blocks = nn.ModuleList()
            for _ in range(s.num_blocks_per_res):
                blocks.append(ResBlock(ch, out, attention=attn, **block))
                ch = out
                skip_chans.append(ch)
            if i != last:
                blocks.append(ResBlock(ch, ch, resample="down", resampler=self.resampler, **block))
                skip_chans.append(ch)
                if s.encoder_type == "skip":
                    self.aux_down.append(AuxDown(in_ch, ch, self.resampler))
            self.encoder.append(blocks)

        self.mid_1 = ResBlock(ch, ch, attention=s.attn_bottleneck, **block)
        self.mid_2 = ResBlock(ch, ch, **block)

        # Decoder, coarsest level first: (except at the coarsest level) an upsampling block, then
        # num_blocks_per_res + 1 blocks that each consume one stored skip by concatenation.
        self.decoder = nn.ModuleList()
        self.aux_up = nn.ModuleList()
        for i in reversed(range(levels)):
            attn = (s.num_freqs >> i) in s.attn_resolutions
            blocks = nn.ModuleList()
            if i != last:
                blocks.append(ResBlock(ch, ch, resample="up", resampler=self.resampler, **block))
            n = s.num_blocks_per_res + 1
            for j in range(n):
                # NCSN++ puts resolution attention only on the level's last block.
                blocks.append(ResBlock(skip_chans.pop() + ch, chans[i], attention=attn and j == n - 1,
                                       **block))
                ch = chans[i]
            self.decoder.append(blocks)
            if s.decoder_type == "skip":
                self.aux_up.append(AuxUp(ch, s.aux_out_channels, None if i == last else self.resampler))
        assert not skip_chans, "encoder and decoder disagree on the number of skips"

        if s.decoder_type == "skip":
            # sgmse's 4→2 output conv, applied before any output scaling (preconditioning is
            # outside), so the raw network is isolated as in Karras et al.
            self.output_conv = nn.Conv2d(s.aux_out_channels, out_ch, 1)
        else:
            self.output_conv = nn.Sequential(group_norm(ch), nn.Conv2d(ch, out_ch, 3, padding=1))

    def _check(self, x: Tensor, c_noise: Tensor) -> Tensor:
        want = self.settings.in_channels
        if x.ndim != 4 or x.shape[1] != want:
            raise ValueError(f"NCSNpp expects x of shape [B, {want}, F, T], got {list(x.shape)}")
        if x.shape[-1] < 1 or x.shape[-2] < 1:
            raise ValueError(f"NCSNpp needs at least one frequency bin and one frame, got {list(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"NCSNpp expects a floating-point x, got {x.dtype}")
        c_noise = torch.as_tensor(c_noise, device=x.device)
        if c_noise.ndim == 0:
            c_noise = c_noise.expand(x.shape[0])
        if c_noise.shape != (x.shape[0],):
            raise ValueError(f"c_noise must have shape [B] = [{x.shape[0]}] (or be a scalar), "
                             f"got {list(c_noise.shape)}")
        return c_noise

    def forward(self, x: Tensor, c_noise: Tensor) -> Tensor:
        c_noise = self._check(x, c_noise)
        p = self.settings.patch
        if p == 1:
            return self._unet(x, c_noise)
        size = x.shape[-2:]
        # zero bins and frames fill the last tile; the output is cropped back to the input's size
        x = F.pad(x, (0, -size[1] % p, 0, -size[0] % p))
        out = F.pixel_shuffle(self._unet(F.pixel_unshuffle(x, p), c_noise), p)
        return out[..., :size[0], :size[1]]

    def _unet(self, x: Tensor, c_noise: Tensor) -> Tensor:
        s = self.settings
        emb = self.emb(c_noise)
        aux = x
        h = self.input_conv(x)
        skips = [h]
        sizes = []  # spatial size before each downsampling, for the matching upsampling
        for i, blocks in enumerate(self.encoder):
            for blk in blocks:
                if blk.resample == "down":
                    sizes.append(tuple(h.shape[-2:]))
                    h = blk(h, emb)
                else:
                    h = blk(h, emb)
                    skips.append(h)
            if blocks[-1].resample == "down":
                if s.encoder_type == "skip":
                    h, aux = self.aux_down[i](h, aux)
                skips.append(h)

        h = self.mid_2(self.mid_1(h, emb), emb)

        out = None
        for i, blocks in enumerate(self.decoder):
            for blk in blocks:
                if blk.resample == "up":
                    h = blk(h, emb, sizes.pop())
                else:
                    h = blk(torch.cat([h, skips.pop()], dim=1), emb)
            if s.decoder_type == "skip":
                out = self.aux_up[i](h, out)
        return self.output_conv(out if s.decoder_type == "skip" else h)
