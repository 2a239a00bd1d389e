
import pytest
import torch

from benchmark.diffusion.losses import LogNormal, UniformT, build_noise_law, denoising_loss, frame_mask
from benchmark.diffusion.preconditioning import Denoiser, Preconditioning
from benchmark.diffusion.sdes import build_sde

from .conftest import SIGMA_D, oracle
from .test_preconditioning import TinyNet


class OracleDenoiser:
    """The exact denoiser behind the Denoiser interface the loss uses."""

    def __init__(self, sde, bundle):
        self.sde, self.precond = sde, Preconditioning.from_config(bundle, sigma_data=SIGMA_D)
        self._d = Denoiser(torch.nn.Identity(), sde, self.precond)

    def __call__(self, x_tilde, y, sigma, t):
        return oracle(x_tilde, y, sigma.reshape(-1, 1, 1), t)

    def loss_weight(self, sigma, t, y):
        return self._d.loss_weight(sigma, t, y)


def _data(b=4096, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(b, 4, 4, dtype=torch.complex128, generator=g)
    y = x0 - SIGMA_D * torch.randn(b, 4, 4, dtype=torch.complex128, generator=g)
    return x0, y


def test_oracle_edm_weighted_loss_is_one():
    # E|D* − d0|² = σ²σ_d²/(σ² + σ_d²), and the edm weight is its inverse: the loss is 1 at every σ.
    sde = build_sde("oucosine", stiffness=0.0)
    x0, y = _data()
    loss, per, _ = denoising_loss(OracleDenoiser(sde, "edm"), UniformT(), x0, y,
                                  generator=torch.Generator().manual_seed(1))
    assert float(loss) == pytest.approx(1.0, rel=0.02)


def test_oracle_richter_weighted_loss():
    # With 1/σ² the oracle's loss is σ_d²/(σ² + σ_d²): large σ count for little (SGMSE+'s weighting).
    sde = build_sde("ouve", stiffness=0.0)
    x0, y = _data()
    _, per, sigma = denoising_loss(OracleDenoiser(sde, "richter"), UniformT(), x0, y,
                                   generator=torch.Generator().manual_seed(2))
    expect = SIGMA_D ** 2 / (sigma.double() ** 2 + SIGMA_D ** 2)
    assert float(per.double().mean()) == pytest.approx(float(expect.mean()), rel=0.03)


def test_training_objective_is_gamma_free_with_edm_preconditioning():
    # docs/design-space.md §1: σ(t) and all c_* ignore γ, so the drift toward y changes nothing in training.
    x0, y = _data(8, 3)
    x0, y = x0.repeat(1, 4, 4).to(torch.complex64), y.repeat(1, 4, 4).to(torch.complex64)
    losses = []
    for gamma in (0.0, 1.5):
        net = TinyNet().float()
        d = Denoiser(net, build_sde("ouvp", stiffness=gamma), Preconditioning.from_config("edm"))
        losses.append(denoising_loss(d, UniformT(), x0, y, generator=torch.Generator().manual_seed(7))[0])
    assert torch.equal(losses[0], losses[1])
    # ...but a richter term (c_in = s(t)) makes γ matter.
    d = Denoiser(TinyNet().float(), build_sde("ouvp", stiffness=1.5), Preconditioning.from_config("edm", cin="richter"))
    other = denoising_loss(d, UniformT(), x0, y, generator=torch.Generator().manual_seed(7))[0]
    assert not torch.equal(losses[0], other)


def test_padded_frames_do_not_count():
    # A pointwise denoiser, so that only the mask can make padding matter.
    sde = build_sde("ouve")
    x0, y = _data(2, 4)
    x0, y = x0.repeat(1, 2, 4), y.repeat(1, 2, 4)                       # [2, 8, 16]
    mask = frame_mask(torch.tensor([16 * 128, 9 * 128]), 16, 128)
    assert mask[0].all() and mask[1, 0, :9].all() and not mask[1, 0, 9:].any()
    d = OracleDenoiser(sde, "edm")

    def loss(a, b):
        return denoising_loss(d, UniformT(), a, b, mask=mask, generator=torch.Generator().manual_seed(0))[1]

    base = loss(x0, y)
    padded = x0.clone()
    padded[1, :, 9:] += 5.0
    assert torch.equal(loss(padded, y), base)
    inside = x0.clone()
    inside[1, :, 3] += 5.0
    assert not torch.equal(loss(inside, y)[1], base[1]) and torch.equal(loss(inside, y)[0], base[0])


def test_noise_laws():
    sde = build_sde("oucosine", stiffness=0.0)
    sigma, t = UniformT(t_eps=0.01).draw(sde, 20000, torch.Generator().manual_seed(0))
    assert float(t.min()) >= 0.01 and float(t.max()) <= 1 and torch.allclose(sde.sigma(t), sigma)
    sigma, t = LogNormal().draw(sde, 20000, torch.Generator().manual_seed(0))
    assert float(torch.log(sigma).median()) == pytest.approx(-1.2, abs=0.05)
    assert torch.allclose(sde.sigma(t), sigma, rtol=1e-4)
    with pytest.raises(ValueError, match="needs σ⁻¹"):
        build_noise_law("lognormal", build_sde("bbed"))
    with pytest.raises(ValueError, match="not one of"):
        build_noise_law("beta")


def test_oracle_data_prediction_loss_is_the_posterior_variance():
    # sgmse's data-prediction objective |x̂0 − x0|² (weight 1): at the exact denoiser it is the
    # posterior variance σ²σ_d²/(σ² + σ_d²), on the SB's own σ distribution.
    sde = build_sde("sbve")
    x0, y = _data()
    d = OracleDenoiser(sde, "edm")
    d._d.precond = Preconditioning.from_config("edm", sigma_data=SIGMA_D, weight="data")
    _, per, sigma = denoising_loss(d, UniformT(t_eps=0.03), x0, y, generator=torch.Generator().manual_seed(3))
    expect = sigma.double() ** 2 * SIGMA_D ** 2 / (sigma.double() ** 2 + SIGMA_D ** 2)
    assert float(per.double().mean()) == pytest.approx(float(expect.mean()), rel=0.03)


def test_velocity_weight_is_flowse_velocity_loss():
    # FlowSE trains v_θ on v = (y − x0) + (σ_max − σ_min)·n along x = (1 − τ)x0 + τy + std(τ)·n.
    # A denoiser D (any: here a random linear one) implies v_θ = s'·D + (std'/std)(x − y − s·D);
    # the velocity weight must turn |D − (x0 − y)|² into |v_θ − v|² (in τ, whence the t_max²).
    sde = build_sde("flow", sigma_min=0.05)
    x0, y = _data(64, 5)
    g = torch.Generator().manual_seed(6)
    n = torch.randn(x0.shape, dtype=x0.dtype, generator=g)
    tau = 0.03 + 0.97 * torch.rand(64, 1, 1, dtype=torch.float64, generator=g)
    t = tau / sde.t_max
    s, sigma = sde.s(t), sde.sigma(t)
    std = (1 - tau) * sde.sigma_min + tau * sde.sigma_max
    x = (1 - tau) * x0 + tau * y + std * n
    x_tilde = (x - y) / s
    D = 0.7 * x_tilde + 0.2 * y                                     # a fixed, wrong denoiser
    v_theta = -D + (sde.sigma_max - sde.sigma_min) / std * (x - y - s * D)
    v = (y - x0) + (sde.sigma_max - sde.sigma_min) * n
    flowse = (v_theta - v).abs().pow(2).mean(dim=(1, 2))
    den = Denoiser(torch.nn.Identity(), sde, Preconditioning.from_config("edm", weight="velocity"))
    ours = den.loss_weight(sigma.reshape(-1), t.reshape(-1), y) * (D - (x0 - y)).abs().pow(2).mean(dim=(1, 2))
    assert torch.allclose(ours, sde.t_max ** 2 * flowse, rtol=1e-8)
    # a weight off by a factor of the schedule would not pass
    wrong = Denoiser(torch.nn.Identity(), sde, Preconditioning.from_config("edm", weight="richter"))
    theirs = wrong.loss_weight(sigma.reshape(-1), t.reshape(-1), y) * (D - (x0 - y)).abs().pow(2).mean(dim=(1, 2))
    assert not torch.allclose(theirs, sde.t_max ** 2 * flowse, rtol=1e-2)


class _Recorder:
    """Returns its input unchanged and keeps it: what the loss feeds the network."""

    def __init__(self, sde):
        self.sde, self.seen = sde, []

    def __call__(self, x_tilde, y, sigma, t):
        self.seen.append((x_tilde, sigma))
        return x_tilde

    def loss_weight(self, sigma, t, y):
        return torch.ones_like(sigma)


@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_input_perturbation_widens_the_noise_the_net_sees_by_one_plus_gamma_squared(gamma):
    # x̃ − (x0 − y) = σ·(n + γ·ξ): its power over σ² is 1 + γ² (n, ξ independent CN(0, I)); the
    # target stays x0 − y, so the identity's loss is that same power times σ².
    sde = build_sde("oucosine", stiffness=0.0)
    x0, y = _data()
    rec = _Recorder(sde)
    loss, per, sigma = denoising_loss(rec, UniformT(), x0, y, generator=torch.Generator().manual_seed(2),
                                      perturb=gamma)
    x_tilde, _ = rec.seen[0]
    power = ((x_tilde - (x0 - y)).abs() ** 2).mean(dim=(1, 2)) / sigma ** 2
    assert float(power.mean()) == pytest.approx(1 + gamma ** 2, rel=0.02)
    assert torch.allclose(per, (sigma ** 2 * power).to(per.dtype))
