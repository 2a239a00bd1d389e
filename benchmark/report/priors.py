"""What a study's cell is, from its study file alone: its overrides, its configuration, and how far its
sampler's starting draw is from the marginal it stands for (the prior-mismatch finding)."""
from __future__ import annotations

import torch

from benchmark.config import ConfigError, build_sde_from, compose, sampler_from_config
from benchmark.report import tables
from benchmark.report.load import Study


def cell_overrides(study: Study, labels: dict) -> list[str]:
    """The overrides that make the study's cell with these axis labels (base, then its axis values or
    the `extra` entry that names them)."""
    raw = study.raw or {}
    overrides = [str(o) for o in raw.get("base") or []]
    extra = next((e for e in raw.get("extra") or []
                  if all(str((e.get("axes") or {}).get(a, "")) == str(v) for a, v in labels.items())), None)
    if extra is not None:
        return overrides + [str(o) for o in extra.get("overrides") or []]
    for axis, value in labels.items():
        overrides += [str(o) for o in ((raw.get("axes") or {}).get(axis) or {}).get(value) or []]
    return overrides


def cell_config(d, cell: str):
    """A diffusion cell's configuration, composed from its study file (None if it cannot be)."""
    rows = d.summary[d.summary["cell"] == cell]
    if rows.empty:
        return None
    try:
        return compose(cell_overrides(d.study, {a: rows[a].iloc[0] for a in d.study.axes}))
    except (ConfigError, ValueError, KeyError):
        return None


def prior_match(study: Study, labels: dict) -> float | None:
    """How far the cell's sampler start is from the marginal it stands for: the std of its prior draw
    of x̃ = (x − y)/s over the marginal's √(σ₀² + σ_d²) (1: no mismatch). brever's plain start at σ₀
    drops the data's own std σ_d: σ₀/√(σ₀² + σ_d²), 0.93 at the embedded σ₀ = 0.25 and 1.00 from
    σ(1) = 90 (cosine); the matched start (sampler.start=matched) is 1 at any σ₀."""
    try:
        cfg = compose(cell_overrides(study, labels))
        sde = build_sde_from(cfg)
        sampler = sampler_from_config(cfg, sde=sde)
        t = sampler.start_time(sde) if hasattr(sampler, "start_time") else float(getattr(sampler, "t_start", 1.0))
        sigma0 = sde.sigma(torch.tensor(t, dtype=torch.float64))
        drawn = sampler.start_std(sigma0) if hasattr(sampler, "start_std") else sigma0   # PC, ancestral: plain
        return float(drawn / torch.sqrt(sigma0 ** 2 + float(cfg.preconditioning.sigma_data) ** 2))
    except (ConfigError, ValueError, TypeError, AttributeError):
        return None


def start_levels(study: Study) -> set[float]:
    """The distinct prior matches of a study's diffusion cells (rounded), from its file alone."""
    levels = (prior_match(study, dict(zip(study.axes, point))) for point in tables.grid_points(study))
    return {round(v, 3) for v in levels if v is not None}
