import math

import pytest
import torch

from benchmark.diffusion.sdes import build_sde

SIGMA_D = 0.1

# Every SDE of the registry, with and without the drift toward y where that is a setting.
SDE_CASES = [
    ("richter-ouve", {}),
    ("ouve", {"stiffness": 0.0}), ("ouve", {}),
    ("ouvp", {"stiffness": 0.0}), ("ouvp", {}),
    ("oucosine", {"stiffness": 0.0}), ("oucosine", {}),
    ("bbed", {}), ("bbcd", {}), ("bbls", {}),
    ("sbve", {}), ("flow", {}),
]
BRIDGES = {"bbed", "bbcd", "bbls", "sbve", "flow"}     # mean from x0 to y: s(1) ≈ 0, no t > 1


def case_id(case):
    name, kw = case
    return name + "".join(f"-{k}{v}" for k, v in kw.items())


@pytest.fixture(params=SDE_CASES, ids=[case_id(c) for c in SDE_CASES])
def sde_case(request):
    name, kw = request.param
    return name, kw, build_sde(name, **kw)


def oracle(x_tilde, y, sigma, t):
    """The exact denoiser E[x0 − y | x̃] when x0 − y ~ CN(0, σ_d²): a Wiener gain on x̃."""
    return x_tilde * SIGMA_D ** 2 / (sigma ** 2 + SIGMA_D ** 2)


def pf_ode_std(sde):
    """Std of x̂0 − y when the exact PF-ODE starts from the prior x̃(1) = σ(1)·n.

    x̃(σ) ∝ √(σ² + σ_d²) along the oracle's ODE, so the output std is σ_d·σ(1)/√(σ(1)² + σ_d²): 0.1 up
    to the prior mismatch, which only matters where σ(1) is near σ_d (bbls: σ(1) = 0.0999).
    """
    s1 = float(sde.sigma(torch.tensor(1.0, dtype=torch.float64)))
    return SIGMA_D * s1 / math.sqrt(s1 ** 2 + SIGMA_D ** 2)
