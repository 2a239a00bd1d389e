"""Samplers driven by the exact denoiser of a Gaussian residual (docs/design-space.md §5d)."""
import math

import pytest
import torch
from omegaconf import OmegaConf

from benchmark.diffusion.samplers import EDM, build_sampler, sample
from benchmark.diffusion.sdes import build_sde

from .conftest import BRIDGES, SDE_CASES, SIGMA_D, case_id, oracle, pf_ode_std

Y = torch.randn(8, 64, 64, dtype=torch.complex128, generator=torch.Generator().manual_seed(5))
OU_CASES = [c for c in SDE_CASES if c[0] not in BRIDGES]


def _std(name, sde, **settings):
    x = sample(build_sampler(name, sde, **settings), oracle, sde, Y, torch.Generator().manual_seed(1)).x
    return float((x - Y).abs().pow(2).mean().sqrt())


@pytest.mark.parametrize("case", OU_CASES, ids=case_id)
def test_deterministic_heun_in_x_space_keeps_the_data_std(case):
    name, kw = case
    if name == "oucosine":
        kw = {**kw, "beta_clamp": math.inf}   # the clamp biases the x-space ODE: next test
    sde = build_sde(name, **kw)
    assert _std("edm", sde, steps=32, churn=0) == pytest.approx(pf_ode_std(sde), rel=0.03)


def test_cosine_beta_clamp_biases_the_x_space_ode():
    # With β clamped at 10 (brever), a and g are too small for t ≳ 0.87, where σ runs from ~1 to 90,
    # so the x-space ODE under-contracts x − y there: +13% std with the exact denoiser, at any N.
    # The σ-space solver (scaling=none) never reads a or g, so it is unaffected.
    sde = build_sde("oucosine", stiffness=0.0)
    for steps in (32, 128):
        assert 1.10 < _std("edm", sde, steps=steps, churn=0) / pf_ode_std(sde) < 1.17
    assert _std("edm", sde, steps=32, churn=0, scaling="none") == pytest.approx(pf_ode_std(sde), rel=0.03)


@pytest.mark.parametrize("case", SDE_CASES, ids=case_id)
def test_deterministic_heun_in_sigma_space_keeps_the_data_std(case):
    sde = build_sde(case[0], **case[1])
    assert _std("edm", sde, steps=64, churn=0, scaling="none") == pytest.approx(pf_ode_std(sde), rel=0.03)


@pytest.mark.parametrize("case", [c for c in SDE_CASES if c[0] != "sbve"], ids=case_id)
def test_predictor_corrector_keeps_the_data_std(case):
    # The Langevin corrector pulls samples toward the true marginal, so PC also undoes the prior
    # mismatch that the ODE keeps (bbls: σ(1) ≈ σ_d): compare with σ_d itself. Not sbve: its drift
    # a = u'/σ̄² reaches 10⁸ at t = 1 and PC's Euler–Maruyama steps over-disperse (+22% at N = 30,
    # +4% at N = 300); the bridge has its own samplers (ancestral, and euler in σ), tested below.
    sde = build_sde(case[0], **case[1])
    assert _std("pc", sde, steps=30) == pytest.approx(SIGMA_D, rel=0.03)


@pytest.mark.parametrize("case", OU_CASES, ids=case_id)
def test_maximal_churn(case):
    # S_churn = ∞ (γ = √2 − 1 on every step) at brever's N = 16 under-disperses on schedules that
    # spend few steps near σ_d (ouvp: about −8%): noise added at σ̂ is removed by a single Heun step
    # whose error contracts it. The effect is a discretisation error: it is gone by N = 64.
    sde = build_sde(case[0], **case[1])
    ratio16 = _std("edm", sde, steps=16) / pf_ode_std(sde)
    assert 0.88 < ratio16 < 1.03
    if case[0] == "ouvp":
        assert ratio16 < 0.95
    assert _std("edm", sde, steps=64) == pytest.approx(pf_ode_std(sde), rel=0.03)


def test_euler_first_order_and_heun_second_order():
    # Per-sample error against the exact PF-ODE solution x̃(0) = x̃(1)·σ_d/√(σ(1)² + σ_d²).
    cases = [("richter-ouve", {}), ("ouve", {"stiffness": 0.0}), ("ouvp", {}),
             ("oucosine", {"stiffness": 0.0, "beta_clamp": math.inf})]
    for name, kw in cases:
        sde = build_sde(name, **kw)
        s1 = float(sde.sigma(torch.tensor(1.0, dtype=torch.float64)))
        n0 = torch.randn(Y.shape, dtype=Y.dtype, generator=torch.Generator().manual_seed(1))
        exact = Y + n0 * s1 * SIGMA_D / math.sqrt(s1 ** 2 + SIGMA_D ** 2)
        for solver, (lo, hi), steps in (("heun", (3.4, 5.0), (32, 64, 128)), ("euler", (1.7, 2.4), (64, 128, 256))):
            errs = []
            for n in steps:
                x = sample(EDM(steps=n, churn=0, solver=solver), oracle, sde, Y, torch.Generator().manual_seed(1)).x
                errs.append(float((x - exact).abs().max()))
            ratios = [errs[i] / errs[i + 1] for i in range(len(errs) - 1)]
            assert all(lo < r < hi for r in ratios), (name, solver, errs)


def test_nfe_is_counted_not_computed():
    sde = build_sde("oucosine", stiffness=0.0)
    y = Y[:1, :8, :8]
    for n in (1, 2, 5, 8):
        assert sample(EDM(steps=n, churn=0), oracle, sde, y).nfe == 2 * n - 1
        assert sample(EDM(steps=n), oracle, sde, y).nfe == 2 * n - 1
        assert sample(EDM(steps=n, solver="euler"), oracle, sde, y).nfe == n
        if n > 1:
            assert sample(EDM(steps=n, first_step="euler"), oracle, sde, y).nfe == 2 * n - 2
        for c in (0, 1, 2):
            pc = build_sampler("pc", sde, steps=n, corrector_steps=c)
            assert sample(pc, oracle, sde, y).nfe == n * (c + 1)


def test_one_euler_step_in_sigma_space_is_the_denoiser():
    # x̃ + (0 − σ)(x̃ − D)/σ = D: the one-step posterior mean of cpu-prototype.md.
    sde = build_sde("oucosine", stiffness=0.0)
    g = torch.Generator().manual_seed(3)
    x = sample(build_sampler("euler", sde, steps=1, scaling="none"), oracle, sde, Y, g).x
    s1 = sde.sigma(torch.tensor(1.0, dtype=torch.float64))
    n0 = torch.randn(Y.shape, dtype=Y.dtype, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(x, Y + oracle(s1 * n0, Y, s1, 1.0))


def test_rho_grid_spans_sigma_max_to_training_minimum():
    sde = build_sde("oucosine", stiffness=0.0)
    t, sigma = EDM(steps=8, grid="rho").time_grid(sde)
    assert float(sigma[0]) == pytest.approx(90.017, rel=1e-4)
    assert float(sigma[-2]) == pytest.approx(float(sde.sigma(torch.tensor(0.01))), rel=1e-4)
    assert float(sigma[-1]) == 0 and float(t[-1]) == 0
    assert torch.all(torch.diff(sigma) < 0) and torch.allclose(sde.sigma(t[:-1]), sigma[:-1])


def test_config_time_errors():
    bbed = build_sde("bbed")
    with pytest.raises(ValueError, match="needs σ⁻¹"):
        build_sampler("edm", bbed, churn=1.0, scaling="none")
    with pytest.raises(ValueError, match="needs σ⁻¹"):
        build_sampler("edm", bbed, churn=0.0, grid="rho", scaling="none")
    with pytest.raises(ValueError, match="unstable"):
        build_sampler("edm", bbed, churn=0.0)
    build_sampler("edm", bbed, churn=0.0, scaling="none")     # needs no σ⁻¹: allowed
    build_sampler("pc", bbed)
    with pytest.raises(ValueError, match="not one of"):
        build_sampler("ddpm")
    with pytest.raises(ValueError, match="no setting"):
        build_sampler("pc", steps=4, churn=1)
    with pytest.raises(ValueError, match="scaling"):
        build_sampler("edm", scaling="vp")


def test_one_pc_step_follows_annealed_langevin_then_probability_flow():
    # N = 1: prior, one corrector step with ε = 2(r·s·σ)², then the noise-free last predictor step.
    sde, r = build_sde("ouve", stiffness=1.5), 0.5
    y = Y[:2, :8, :8]
    x = sample(build_sampler("pc", sde, steps=1, snr=r), oracle, sde, y, torch.Generator().manual_seed(9)).x
    g = torch.Generator().manual_seed(9)
    t = torch.tensor(1.0, dtype=torch.float64)
    s, sig = sde.s(t), sde.sigma(t)
    x_ref = y + s * sig * torch.randn(y.shape, dtype=y.dtype, generator=g)

    def score(x):
        xt = (x - y) / s
        return (oracle(xt, y, sig, t) - xt) / (s * sig ** 2)

    eps = 2 * (r * s * sig) ** 2
    x_ref = x_ref + eps * score(x_ref) + torch.sqrt(2 * eps) * torch.randn(y.shape, dtype=y.dtype, generator=g)
    x_ref = x_ref - (sde.a(t) * (y - x_ref) - 0.5 * sde.g(t) ** 2 * score(x_ref))
    assert torch.allclose(x, x_ref)


@pytest.mark.parametrize("case", SDE_CASES, ids=case_id)
def test_sigma_start_starts_every_sde_at_the_same_noise_level(case):
    name, kw = case
    sde = build_sde(name, **kw)
    sampler = build_sampler("edm", sde, steps=4, churn=0, scaling="none", sigma_start=0.25)
    t, sigma = sampler.time_grid(sde)
    sigma_1 = float(sde.sigma(torch.tensor(1.0, dtype=torch.float64)))
    assert float(sigma[0]) == pytest.approx(min(0.25, sigma_1), rel=1e-6)
    assert len(t) == 5 and float(t[-1]) == 0.0 and bool((t[:-1] > t[1:]).all())
    # the oracle's ODE from x̃ = σ₀·n ends with std σ_d·σ₀/√(σ₀² + σ_d²) (pf_ode_std with σ(1) → σ₀)
    s0 = float(sigma[0])
    # sbve's σ ∝ √t near 0 on a short t range: Heun needs more steps there (−4% at N = 64)
    got = _std("edm", sde, steps=256 if name == "sbve" else 64, churn=0, scaling="none", sigma_start=0.25)
    assert got == pytest.approx(SIGMA_D * s0 / math.sqrt(s0 ** 2 + SIGMA_D ** 2), rel=0.03)


@pytest.mark.parametrize("case", OU_CASES, ids=case_id)
def test_matched_start_removes_the_prior_mismatch_of_a_low_start(case):
    # Started at σ₀ = 0.25 the plain prior lacks the data's std σ_d, so the exact ODE ends at
    # σ_d·σ₀/√(σ₀² + σ_d²) = 0.093; the matched start draws x̃ with std √(σ₀² + σ_d²), the marginal's,
    # and the same ODE ends at σ_d itself.
    sde = build_sde(case[0], **case[1])
    common = dict(steps=64, churn=0, scaling="none", sigma_start=0.25)
    s0 = min(0.25, float(sde.sigma(torch.tensor(1.0, dtype=torch.float64))))
    assert _std("edm", sde, **common) == pytest.approx(SIGMA_D * s0 / math.sqrt(s0 ** 2 + SIGMA_D ** 2), rel=0.03)
    assert _std("edm", sde, start="matched", sigma_data=SIGMA_D, **common) == pytest.approx(SIGMA_D, rel=0.03)


def test_matched_start_takes_sigma_data_from_the_config_and_keeps_old_cell_ids():
    from benchmark.config import build_sde_from, cell_hash, compose, sampler_from_config
    cfg = compose(["sampler.start=matched", "preconditioning.sigma_data=0.2"])
    sampler = sampler_from_config(cfg, sde=build_sde_from(cfg))
    assert (sampler.start, sampler.sigma_data) == ("matched", 0.2)
    # `start` came after results existed: at its old behaviour it leaves a cell's id alone
    plain = compose([])
    before = OmegaConf.to_container(plain)
    del before["sampler"]["start"]
    assert cell_hash(plain) == cell_hash(OmegaConf.create(before))
    assert cell_hash(compose(["sampler.start=matched"])) != cell_hash(plain)
    with pytest.raises(ValueError, match="sampler.start"):
        EDM(start="exact")


def test_sigma_start_and_t_start_are_exclusive():
    with pytest.raises(ValueError, match="sigma_start"):
        EDM(sigma_start=0.25, t_start=0.5)
    with pytest.raises(ValueError, match="sigma_start"):
        EDM(sigma_start=-1.0)


# ---------------------------------------------------------------------------------------------
# The samplers of the methods after the paper (docs/design-space.md §13).

def _exact_pf(sde, seed=1):
    s1 = float(sde.sigma(torch.tensor(1.0, dtype=torch.float64)))
    n0 = torch.randn(Y.shape, dtype=Y.dtype, generator=torch.Generator().manual_seed(seed))
    return Y + n0 * s1 * SIGMA_D / math.sqrt(s1 ** 2 + SIGMA_D ** 2)


def _order_ratios(sde, steps, **settings):
    exact, errs = _exact_pf(sde), []
    for n in steps:
        x = sample(EDM(steps=n, churn=0, **settings), oracle, sde, Y, torch.Generator().manual_seed(1)).x
        errs.append(float((x - exact).abs().max()))
    return [errs[i] / errs[i + 1] for i in range(len(errs) - 1)]


def test_flow_ode_solvers_converge_at_their_order():
    # FlowSE integrates x in t (scaling=sde): allowed on `flow`, whose std does not vanish at t = 1.
    flow = build_sde("flow")
    assert all(1.8 < r < 2.2 for r in _order_ratios(flow, (16, 32, 64, 128), solver="euler"))
    assert all(3.6 < r < 4.4 for r in _order_ratios(flow, (16, 32, 64), solver="heun"))
    assert all(r > 3.6 for r in _order_ratios(flow, (16, 32, 64), solver="midpoint"))
    assert all(r > 3.6 for r in _order_ratios(flow, (16, 32, 64), solver="midpoint", scaling="none"))
    # midpoint is second order on an OU process too (on flow's linear field it does better)
    assert all(3.6 < r < 4.4 for r in _order_ratios(build_sde("ouvp"), (32, 64, 128), solver="midpoint"))


def test_sb_ode_is_first_order_and_refuses_x_space_steps():
    sbve = build_sde("sbve")
    ratios = _order_ratios(sbve, (512, 1024, 2048), solver="euler", scaling="none")
    assert all(1.6 < r < 2.2 for r in ratios), ratios
    with pytest.raises(ValueError, match="unstable"):
        build_sampler("euler", sbve)
    with pytest.raises(ValueError, match="needs σ⁻¹"):
        build_sampler("edm", build_sde("bbed"), solver="midpoint", churn=0, scaling="none")


def _sb_weights(t, t_prev, k=2.6, c=0.4, eps=1e-8):
    """sgmse get_sb_sampler's per-step weights (Jukić et al. 2024), α = 1, written out anew."""
    def sig(t):
        return math.sqrt(c * (k ** (2 * t) - 1) / (2 * math.log(k)))
    s_T = sig(1.0)
    st, sp = sig(t), sig(t_prev)
    bt, bp = math.sqrt(s_T ** 2 - st ** 2 + eps), math.sqrt(s_T ** 2 - sp ** 2 + eps)
    ode = (st * bt / (sp * bp + eps),
           (bt ** 2 - bp * st * bt / (sp + eps)) / (s_T ** 2 + eps),
           (st ** 2 - sp * st * bt / (bp + eps)) / (s_T ** 2 + eps))
    r = 1 - st ** 2 / (sp ** 2 + eps)
    sde = (st ** 2 / (sp ** 2 + eps), r, st * math.sqrt(r))
    return ode, sde


def _x_denoiser(x_hat0):
    """A denoiser that predicts x0 = x_hat0(x, y, t) from the state x itself, as sgmse's net does."""
    def D(x_tilde, y, sigma, t, sde=build_sde("sbve")):
        x = y + sde.s(torch.as_tensor(t)) * x_tilde
        return x_hat0(x, y, t) - y
    return D


def test_sb_samplers_take_sgmse_steps():
    # One step of our euler (σ-space, scaling none) and of ancestral, from a state x at t_prev to t,
    # equals sgmse's SB-ODE and SB-SDE updates x' = w_x·x + w_0·x̂0 + w_y·y (+ w_z·z).
    sbve = build_sde("sbve")
    y = Y[:2, :8, :8]

    def x_hat0(x, y, t):                                           # any estimate, as long as it is fixed
        return 0.5 * x + 0.3 * y

    for t_prev, t in ((0.8, 0.6), (0.3, 0.1)):
        x = y + 0.2 * torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(4))
        (wx, w0, wy), (vx, v0, vz) = _sb_weights(t, t_prev)
        tp, tn = torch.tensor(t_prev, dtype=torch.float64), torch.tensor(t, dtype=torch.float64)
        sp, sn, sig_p, sig_n = sbve.s(tp), sbve.s(tn), sbve.sigma(tp), sbve.sigma(tn)
        D = _x_denoiser(x_hat0)
        x_tilde = (x - y) / sp
        d = D(x_tilde, y, sig_p, tp)
        ours_ode = y + sn * (d + sig_n / sig_p * (x_tilde - d))      # the euler/DDIM step in σ
        assert torch.allclose(ours_ode, wx * x + w0 * x_hat0(x, y, tp) + wy * y, atol=1e-6)
        r = (sig_n / sig_p) ** 2                                     # the ancestral step without its noise
        ours_mean = y + sn * (d + r * (x_tilde - d))
        assert torch.allclose(ours_mean, vx * x + v0 * x_hat0(x, y, tp) + 0 * y, atol=1e-6)
        assert float(sn * sig_n * torch.sqrt(1 - r)) == pytest.approx(vz, rel=1e-5)


def test_ancestral_sampler_nfe_and_limits():
    sde = build_sde("sbve")
    y = Y[:1, :8, :8]
    for n in (1, 2, 5):
        assert sample(build_sampler("ancestral", sde, steps=n), oracle, sde, y).nfe == n
        assert sample(build_sampler("edm", build_sde("flow"), steps=n, solver="midpoint", churn=0), oracle,
                      build_sde("flow"), y).nfe == 2 * n
    # one step is the denoiser at the prior, as the one-step euler is
    one = sample(build_sampler("ancestral", sde, steps=1), oracle, sde, Y, torch.Generator().manual_seed(2)).x
    ref = sample(build_sampler("euler", sde, steps=1, scaling="none"), oracle, sde, Y,
                 torch.Generator().manual_seed(2)).x
    assert torch.allclose(one, ref)
    # many steps sample the true marginal: std σ_d, not the PF-ODE's (posterior sampling, not a mean)
    for name in ("ouve", "oucosine", "flow"):
        sde = build_sde(name, **({"stiffness": 0.0} if name.startswith("ou") else {}))
        assert _std("ancestral", sde, steps=400) == pytest.approx(SIGMA_D, rel=0.03)


def test_flowse_grid_ends_at_its_t_eps_then_zero():
    sde = build_sde("flow")
    t, sigma = EDM(steps=5, churn=0, solver="euler", t_end=0.03).time_grid(sde)
    assert torch.allclose(t, torch.tensor([1.0, 0.7575, 0.515, 0.2725, 0.03, 0.0], dtype=torch.float64))
    assert float(sigma[-1]) == 0.0
    t1, _ = EDM(steps=1, solver="euler", churn=0, t_end=0.03).time_grid(sde)
    assert t1.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="t_end"):
        EDM(t_end=1.0)
