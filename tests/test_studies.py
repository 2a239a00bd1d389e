"""The study files' designs, checked with the exact denoiser of a Gaussian residual (docs/studies.md)."""
import torch

from benchmark.config import build_sde_from, sampler_from_config
from benchmark.diffusion.samplers import sample
from benchmark.driver.grid import expand, load_study

from .diffusion.conftest import oracle, pf_ode_std

Y = torch.randn(4, 64, 48, dtype=torch.complex128, generator=torch.Generator().manual_seed(5))


def _std(cfg) -> float:
    sde = build_sde_from(cfg)
    x = sample(sampler_from_config(cfg, sde=sde), oracle, sde, Y, torch.Generator().manual_seed(1)).x
    return float((x - Y).abs().pow(2).mean().sqrt()) / pf_ode_std(sde)


def test_sampler_ablation_runs_its_ode_cells_where_the_ode_is_exact():
    # The deterministic Heun cells must not carry the β clamp's x-space bias (+13.6% std on the
    # cosine SDE at any N): with the exact denoiser they end within 3% of the exact ODE's std at the
    # study's largest N, as PC does, and x-space at the same N would not.
    cells = [c for c in expand(load_study("sampler_ablation")) if c.axes.get("sampler") == "Heun"]
    assert cells and all(c.config.sampler.churn == 0 for c in cells)
    top = max(cells, key=lambda c: int(c.config.sampler.steps))
    assert abs(_std(top.config) - 1) < 0.03
    x_space = top.config.copy()
    x_space.sampler.scaling = "sde"
    assert _std(x_space) > 1.10
    pc = next(c for c in expand(load_study("sampler_ablation"))
              if c.axes.get("sampler") == "PC" and c.axes.get("steps") == top.axes["steps"])
    assert abs(_std(pc.config) - 1) < 0.05

