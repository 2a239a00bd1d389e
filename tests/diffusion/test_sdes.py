import math

import pytest
import torch

from benchmark.diffusion.sdes import SDES, NoInverse, build_sde

from .conftest import BRIDGES


def _cumtrapz(f, t):
    return torch.cat([torch.zeros(1, dtype=t.dtype), torch.cumsum(0.5 * (f[1:] + f[:-1]) * torch.diff(t), 0)])


def _identity_range(name, sde):
    """Where a and g must agree with the closed-form s and σ: everywhere, except above the cosine β clamp."""
    t = torch.linspace(0, 0.99, 200_001, dtype=torch.float64)
    if name == "oucosine":
        t = t[sde.beta(t) < sde.beta_clamp]
    return t


def test_s_is_exp_of_minus_integrated_drift(sde_case):
    # s(t) = exp(−∫₀ᵗ a): the drift toward y and the closed-form scaling describe one process.
    name, _, sde = sde_case
    t = _identity_range(name, sde)
    numeric = torch.exp(-_cumtrapz(sde.a(t), t))
    assert torch.allclose(numeric, sde.s(t), rtol=1e-6, atol=1e-9)


def test_sigma_squared_is_integrated_diffusion(sde_case):
    # σ(t)² = ∫₀ᵗ g²/s²: the marginal std of x̃ is the one the diffusion coefficient produces.
    name, _, sde = sde_case
    t = _identity_range(name, sde)
    numeric = _cumtrapz(sde.g(t) ** 2 / sde.s(t) ** 2, t)
    exact = sde.sigma(t) ** 2
    assert torch.allclose(numeric, exact, rtol=1e-5, atol=1e-10)


def test_cosine_identities_hold_everywhere_without_clamp():
    sde = build_sde("oucosine", stiffness=0.0, beta_clamp=math.inf)
    t = torch.linspace(0, 0.95, 400_001, dtype=torch.float64)
    assert torch.allclose(_cumtrapz(sde.g(t) ** 2 / sde.s(t) ** 2, t), sde.sigma(t) ** 2, rtol=1e-5)
    assert torch.allclose(torch.exp(-_cumtrapz(sde.a(t), t)), sde.s(t), rtol=1e-6)


def test_cosine_clamp_binds_only_near_t1():
    sde = build_sde("oucosine")
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    clamped = t[sde.beta(t) >= sde.beta_clamp]
    assert 0.85 < float(clamped.min()) < 0.9


def test_sigma_inverse_round_trips(sde_case):
    name, _, sde = sde_case
    t = torch.linspace(0.001, 1.0, 1000, dtype=torch.float64)
    if name == "bbed":
        with pytest.raises(NoInverse):
            sde.sigma_inv(sde.sigma(t))
        assert not sde.has_sigma_inv
        return
    assert sde.has_sigma_inv
    assert torch.allclose(sde.sigma_inv(sde.sigma(t)), t, rtol=1e-9, atol=1e-9)


def test_sigma_inverse_extrapolates_above_t1_for_churn(sde_case):
    # Stochastic Heun evaluates σ̂ = (1 + γ)σ(1), i.e. t̂ > 1 (docs/design-space.md §11.8).
    name, _, sde = sde_case
    if not sde.has_sigma_inv or name in BRIDGES:
        return
    s_hat = sde.sigma(torch.tensor(1.0, dtype=torch.float64)) * math.sqrt(2)
    t_hat = sde.sigma_inv(s_hat)
    assert float(t_hat) > 1 and torch.isclose(sde.sigma(t_hat), s_hat)


# σ(0.01), σ(1), s(1), prior std s(1)σ(1): docs/design-space.md §2, computed from brever's code.
SPEC_TABLE = [
    ("richter-ouve", {}, "0.0109", "1.7433", "0.2231", "0.389"),
    ("ouve", {"stiffness": 0.0}, "0.0109", "0.4975", "1", "0.4975"),
    ("ouve", {}, "0.0109", "0.4975", "0.2231", "0.111"),
    ("ouvp", {"stiffness": 0.0}, "0.0122", "0.8105", "0.7769", "0.630"),
    ("ouvp", {}, "0.0122", "0.8105", "0.1733", "0.140"),
    ("oucosine", {"stiffness": 0.0}, "0.0035", "90.02", "0.0111", "1.000"),
    ("oucosine", {}, "0.0035", "90.02", "0.0025", "0.223"),
    ("bbed", {}, "0.0102", "31.20", "0.001", "0.031"),
]


def _matches(value, spec: str):
    """Equal to the spec's figure within one unit of its last printed digit (the spec sometimes
    truncates: it prints 0.140 for 0.14050)."""
    decimals = len(spec.split(".")[1]) if "." in spec else 0
    return abs(value - float(spec)) <= 10 ** -decimals


@pytest.mark.parametrize("name,kw,sig_eps,sig_1,s_1,prior", SPEC_TABLE)
def test_spec_numeric_table(name, kw, sig_eps, sig_1, s_1, prior):
    sde = build_sde(name, **kw)
    t = torch.tensor([0.01, 1.0], dtype=torch.float64)
    sig, s = sde.sigma(t), sde.s(t)
    assert _matches(float(sig[0]), sig_eps)
    assert _matches(float(sig[1]), sig_1)
    assert _matches(float(s[1]), s_1)
    assert _matches(float(s[1] * sig[1]), prior)


def test_uniform_t_sigma_grid_of_cosine_matches_spec():
    sde = build_sde("oucosine", stiffness=0.0)
    grid = sde.sigma(torch.linspace(1, 0, 9, dtype=torch.float64)).tolist()
    spec = ["90.0", "1.109", "0.536", "0.333", "0.223", "0.149", "0.092", "0.044", "0"]
    assert all(_matches(a, b) for a, b in zip(grid, spec)), grid


def test_gamma_free_sigma_for_brever_sdes():
    # With the drift toward y as the only change, σ(t) is the same: γ moves s(t) alone (§1).
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    for name in ("ouve", "ouvp", "oucosine"):
        a, b = build_sde(name, stiffness=0.0), build_sde(name, stiffness=1.5)
        assert torch.allclose(a.sigma(t), b.sigma(t))
        assert torch.allclose(b.s(t), a.s(t) * torch.exp(-1.5 * t))


def test_prior_has_the_marginal_std_at_t1():
    sde = build_sde("ouvp", stiffness=0.0)
    y = torch.randn(64, 64, 64, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    x = sde.prior(y, torch.Generator().manual_seed(1))
    std = float((x - y).abs().pow(2).mean().sqrt())
    assert math.isclose(std, 0.630, rel_tol=0.01)


def test_registry_errors_name_the_problem():
    with pytest.raises(ValueError, match="not one of"):
        build_sde("vp-nonexistent")
    with pytest.raises(ValueError, match="no parameter"):
        build_sde("ouve", gamma=1.0)
    assert set(SDES) == {"richter-ouve", "ouve", "ouvp", "oucosine", "bbed", "bbcd", "bbls", "sbve", "flow"}
    assert isinstance(build_sde("brever-oucosine"), SDES["oucosine"])


def test_richter_ouve_at_gamma_zero_is_the_same_process_as_ouve():
    t = torch.linspace(0.0, 1.0, 11)
    r, o = build_sde("richter-ouve", stiffness=0.0), build_sde("ouve", stiffness=0.0)
    for fn in ("sigma", "s", "g"):
        assert torch.allclose(getattr(r, fn)(t), getattr(o, fn)(t)), fn
    r15, o15 = build_sde("richter-ouve", stiffness=1.5), build_sde("ouve", stiffness=1.5)
    assert not torch.allclose(r15.sigma(t), o15.sigma(t))


def test_sbve_marginal_is_sgmse_schroedinger_bridge():
    # sgmse SBVESDE (Jukić et al. 2024, Table 1 and eq. 11): σ_t² = c(k^{2t} − 1)/(2 ln k),
    # σ̄_t² = σ_T² − σ_t² + ε, mean (σ̄_t² x0 + σ_t² y)/(σ_T² + ε), std σ̄_t σ_t/(σ_T + ε); prior y.
    k, c, eps = 2.6, 0.4, 1e-8
    sde = build_sde("sbve")
    t = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    u = c * (k ** (2 * t) - 1) / (2 * math.log(k))
    u_T = c * (k ** 2 - 1) / (2 * math.log(k))
    bar = torch.sqrt(u_T - u + eps)
    # mean y + s(x0 − y) = s·x0 + (1 − s)·y
    assert torch.allclose(sde.s(t), bar ** 2 / (u_T + eps), rtol=1e-12)
    assert torch.allclose(1 - sde.s(t), u / (u_T + eps), rtol=1e-9, atol=1e-15)
    assert torch.allclose(sde.s(t) * sde.sigma(t), bar * torch.sqrt(u) / (math.sqrt(u_T) + eps), rtol=1e-7)
    assert float(sde.s(t[0])) == 1.0 and float(sde.sigma(t[0])) == 0.0
    assert float(sde.s(t[-1]) * sde.sigma(t[-1])) == pytest.approx(math.sqrt(eps), rel=1e-6)
    # the SB's own diffusion coefficient √c·k^t, up to the factor 1 + ε/σ_T² that keeps s(0) = 1
    assert torch.allclose(sde.g(t), math.sqrt(c) * k ** t, rtol=1e-8)


def test_flow_marginal_is_flowse_path():
    # seongq/flowmse FLOWMATCHING: mean (1 − τ)x0 + τy, std (1 − τ)σ_min + τσ_max (τ = t_max·t).
    for kw in ({}, {"sigma_min": 0.05, "sigma_max": 0.5}):
        sde = build_sde("flow", **kw)
        lo, hi = kw.get("sigma_min", 0.0), kw.get("sigma_max", 0.487)
        t = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
        tau = sde.t_max * t
        assert torch.allclose(sde.s(t), 1 - tau)
        assert torch.allclose(sde.s(t) * sde.sigma(t), (1 - tau) * lo + tau * hi, rtol=1e-12)
    assert not build_sde("flow").stiff_near_prior and build_sde("bbed").stiff_near_prior


def test_broken_bridge_formulas_fail_the_identities():
    # The closed-form identities above do catch an error in a or g (a guard on the guards).
    from benchmark.diffusion.sdes import SBVE, Flow

    class BadSB(SBVE):
        def a(self, t):
            return 1.01 * super().a(t)

    class BadFlow(Flow):
        def _g_tau(self, tau):
            return torch.sqrt(2 * self.sigma_max * self._sigma_tau(tau) + 1e-3)

    t = torch.linspace(0, 0.99, 20_001, dtype=torch.float64)
    bad = BadSB()
    assert not torch.allclose(torch.exp(-_cumtrapz(bad.a(t), t)), bad.s(t), rtol=1e-6, atol=1e-9)
    bad = BadFlow()
    assert not torch.allclose(_cumtrapz(bad.g(t) ** 2 / bad.s(t) ** 2, t), bad.sigma(t) ** 2, rtol=1e-5, atol=1e-10)
