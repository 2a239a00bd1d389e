"""Network registry: preset name → settings, and `build_net` to instantiate one.

Presets (docs/design-space.md section 6; counts asserted in tests/nets):
- "ncsnpp_m": NCSN++M, the paper's network, 27,756,186 parameters.
- "ncsnpp":   NCSN++, the large variant, 65,590,694 parameters.
- "small":    the same architecture sized for the embedded default on 2 CPU cores
              (chosen from perf/net_throughput.py; see that script for the measurements).
- "cpu":      small's depth on a 2 x 2 space-to-depth grid, for CPU training (docs/performance.md).
- "tiny":     for tests; a forward on 4×256×32 takes milliseconds.
"""
from __future__ import annotations

from dataclasses import replace

from torch import nn

from benchmark.nets.ncsnpp import NCSNpp, NCSNppSettings

NETS: dict[str, NCSNppSettings] = {
    "ncsnpp_m": NCSNppSettings(),
    "ncsnpp": NCSNppSettings(channel_mult=(1, 1, 2, 2, 2, 2, 2), num_blocks_per_res=2,
                             attn_resolutions=(16,)),
    # 1.25 M parameters. The upsampling block into each level runs at the next level's width, so
    # the first two levels stay at 16 channels and the capacity sits in the coarse levels; a fifth
    # level is nearly free. On 2 cores this trains about 2x faster than base 16 with [1,2,4,8]
    # (2.79 M): measurements in perf/net_throughput.py and the nets report.
    "small": NCSNppSettings(base_channels=16, channel_mult=(1, 1, 2, 4, 4)),
    # The same depth on a 2 x 2 space-to-depth grid: the full-resolution 16-channel layers that held
    # most of small's CPU step are gone, and every layer is at least 32 wide (issue 45's CPU lever).
    "cpu": NCSNppSettings(base_channels=32, channel_mult=(1, 1, 2, 2, 2), patch=2),
    # Four levels so tests push odd sizes through three resamplings; with fewer, the bottleneck
    # attention runs over F/2 × T/2 positions and dominates (about 1 s for 256 × 189).
    "tiny": NCSNppSettings(base_channels=8, channel_mult=(1, 1, 1, 2)),
}


def net_settings(name: str, **overrides) -> NCSNppSettings:
    """The preset's settings with `overrides` applied (validated)."""
    if name not in NETS:
        raise KeyError(f"unknown network {name!r}; known: {sorted(NETS)}")
    unknown = sorted(set(overrides) - set(NCSNppSettings.names()))
    if unknown:
        raise TypeError(f"unknown network setting(s) {unknown} for {name!r}; "
                        f"valid: {NCSNppSettings.names()}")
    return replace(NETS[name], **overrides)


def build_net(name: str, **overrides) -> nn.Module:
    """Instantiate preset `name`, e.g. build_net("ncsnpp_m", dropout=0.1)."""
    return NCSNpp(net_settings(name, **overrides))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (buffers such as the Fourier frequencies excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["NETS", "NCSNpp", "NCSNppSettings", "build_net", "count_parameters", "net_settings"]
