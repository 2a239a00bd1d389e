import pytest
import torch
from torch import nn

from benchmark.diffusion.preconditioning import TERMS, Denoiser, Preconditioning
from benchmark.diffusion.sdes import build_sde


class TinyNet(nn.Module):
    """A raw network F(input [B,4,F,T], c_noise [B]) -> [B,2,F,T] that records its input."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(4, 2, 3, padding=1).double()
        self.emb = nn.Linear(1, 2).double()
        self.seen = None

    def forward(self, x, c_noise):
        self.seen = (x.detach().clone(), c_noise.detach().clone())
        return self.conv(x) + self.emb(c_noise[:, None])[:, :, None, None]


def _batch(seed=0, b=3):
    g = torch.Generator().manual_seed(seed)
    d0 = 0.1 * torch.randn(b, 8, 6, dtype=torch.complex128, generator=g)
    y = torch.randn(b, 8, 6, dtype=torch.complex128, generator=g)
    n = torch.randn(b, 8, 6, dtype=torch.complex128, generator=g)
    t = torch.tensor([0.05, 0.4, 0.9], dtype=torch.float64)[:b]
    return d0, y, n, t


def _denoiser(bundle="edm", sde="richter-ouve", **terms):
    net = TinyNet()
    return Denoiser(net, build_sde(sde), Preconditioning.from_config(bundle, **terms)), net


def _net_output(net):
    out = net.conv(net.seen[0]) + net.emb(net.seen[1][:, None])[:, :, None, None]
    return torch.complex(out[:, 0], out[:, 1])


def test_all_richter_is_sgmse_score():
    # score = (D − x̃)/(sσ²) = −F/t: SGMSE+'s network output divided by t (docs/design-space.md §3).
    D, net = _denoiser("richter")
    d0, y, n, t = _batch()
    sde = D.sde
    sigma = sde.sigma(t)
    x = y + sde.s(t)[:, None, None] * (d0 + sigma[:, None, None] * n)
    score = D.score(x, y, sigma, t)
    assert torch.allclose(score, -_net_output(net) / t[:, None, None])
    # The network saw the raw process state x(t) and c_noise = ln t.
    assert torch.allclose(net.seen[0][:, 0], x.real) and torch.allclose(net.seen[0][:, 1], x.imag)
    assert torch.allclose(net.seen[0][:, 2], y.real) and torch.allclose(net.seen[1], torch.log(t))


def test_all_richter_weighted_loss_is_sgmse_score_matching():
    # σ⁻²|D − d0|² = |score·(sσ) + n|² with x̃ = d0 + σn: sgmse's `score_matching` loss.
    D, _ = _denoiser("richter")
    d0, y, n, t = _batch(1)
    sde = D.sde
    sigma, s = sde.sigma(t)[:, None, None], sde.s(t)[:, None, None]
    x_tilde = d0 + sigma * n
    lhs = D.loss_weight(sde.sigma(t), t, y)[:, None, None] * (D(x_tilde, y, sde.sigma(t), t) - d0).abs() ** 2
    score = D.score(y + s * x_tilde, y, sde.sigma(t), t)
    rhs = (score * s * sigma + n).abs() ** 2
    assert torch.allclose(lhs, rhs)


def test_all_edm_has_unit_effective_weight_and_centred_input():
    D, net = _denoiser("edm", sde="oucosine")
    d0, y, n, t = _batch(2)
    sigma = D.sde.sigma(t)
    x_tilde = d0 + sigma[:, None, None] * n
    nz = D.noise(sigma, t, y)
    eff = D.precond.term("weight", nz) * D.precond.term("cout", nz) ** 2
    assert torch.allclose(eff, torch.ones_like(eff))
    D(x_tilde, y, sigma, t)
    cin = 1 / torch.sqrt(sigma ** 2 + 0.01)
    assert torch.allclose(net.seen[0][:, 0], (cin[:, None, None] * x_tilde).real)
    assert torch.allclose(net.seen[1], torch.log(sigma) / 4)


def test_edm_scaled_shift_feeds_rescaled_state():
    D, net = _denoiser("edm", sde="ouve", cshift="edm-scaled-shift")
    d0, y, n, t = _batch(3)
    sigma, s = D.sde.sigma(t)[:, None, None], D.sde.s(t)[:, None, None]
    x_tilde = d0 + sigma * n
    D(x_tilde, y, D.sde.sigma(t), t)
    x = y + s * x_tilde
    expect = x / s / torch.sqrt(sigma ** 2 + 0.01)                     # c_in·x/s
    assert torch.allclose(net.seen[0][:, 0], expect.real) and torch.allclose(net.seen[0][:, 1], expect.imag)


@pytest.mark.parametrize("term", TERMS)
def test_each_term_switches_alone(term):
    # Flipping one term from edm to richter changes D (or the weight) and nothing else.
    d0, y, n, t = _batch(4)
    base, _ = _denoiser("edm")
    flip, _ = _denoiser("edm", **{term: "richter"})
    sigma = base.sde.sigma(t)
    nz_b, nz_f = base.noise(sigma, t, y), flip.noise(sigma, t, y)
    for other in TERMS:
        same = torch.allclose(base.precond.term(other, nz_b), flip.precond.term(other, nz_f))
        assert same == (other != term), other


def test_sigma_data_and_bad_names():
    p = Preconditioning.from_config("edm", sigma_data=0.5)
    assert p.sigma_data == 0.5 and p.as_dict()["cout"] == "edm"
    with pytest.raises(ValueError, match="cskip"):
        Preconditioning.from_config("edm", cskip="edm-scaled-shift")
    with pytest.raises(ValueError, match="bundle"):
        Preconditioning.from_config("karras")
    with pytest.raises(ValueError, match="unknown preconditioning term"):
        Preconditioning.from_config("edm", c_skip="edm")


def test_edm_denoiser_is_karras_table_1():
    # D = σ_d²/(σ² + σ_d²)·x̃ + σσ_d/√(σ² + σ_d²)·F (Karras et al. 2022, Table 1, with σ_d = 0.1).
    D, net = _denoiser("edm", sde="ouvp")
    d0, y, n, t = _batch(5)
    sigma = D.sde.sigma(t)
    sig = sigma[:, None, None]
    x_tilde = d0 + sig * n
    out = D(x_tilde, y, sigma, t)
    expect = 0.01 / (sig ** 2 + 0.01) * x_tilde + sig * 0.1 / torch.sqrt(sig ** 2 + 0.01) * _net_output(net)
    assert torch.allclose(out, expect)
