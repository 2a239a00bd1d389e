"""Preconditioning: six independent terms, each `richter` (SGMSE+) or `edm` (docs/design-space.md §3).

    D(x̃; σ, y) = c_skip·x̃ + c_out·F_θ([Re, Im](c_in·x̃ + c_shift), [Re, Im](y); c_noise)
    score(x)   = (D(x̃) − x̃) / (s(t)·σ²),   x̃ = (x − y)/s(t)
    loss       = weight(σ)·|D(x̃) − (x0 − y)|²

Every term is a function of one `Noise` record (σ, t, s(t), y, c_in) and σ_data, so each row below
reads like the paper's table. All-`richter` gives SGMSE+ exactly: score = −F/t and the weighted loss is
its score-matching loss; all-`edm` gives EDM (Karras et al. 2022, Table 1), where weight·c_out² = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

TERMS = ("cskip", "cout", "cin", "cshift", "cnoise", "weight")


@dataclass
class Noise:
    sigma: torch.Tensor     # EDM σ, shaped to broadcast against x̃ ([B, 1, 1] for [B, F, T])
    t: torch.Tensor         # SDE time of that σ
    s: torch.Tensor         # s(t)
    y: torch.Tensor         # the noisy conditioner
    cin: torch.Tensor | float = 1.0
    sde: object = None      # for weights written in the SDE's own terms (velocity)


PRECONDITIONING = {
    "richter": dict(
        cskip=lambda n, sd: torch.ones_like(n.sigma),
        cout=lambda n, sd: -n.s * n.sigma ** 2 / n.t,
        cin=lambda n, sd: n.s,
        cshift=lambda n, sd: n.y,                                   # network sees x(t) itself
        cnoise=lambda n, sd: torch.log(n.t),
        weight=lambda n, sd: 1 / n.sigma ** 2,
    ),
    "edm": dict(
        cskip=lambda n, sd: sd ** 2 / (n.sigma ** 2 + sd ** 2),
        cout=lambda n, sd: n.sigma * sd / torch.sqrt(n.sigma ** 2 + sd ** 2),
        cin=lambda n, sd: 1 / torch.sqrt(n.sigma ** 2 + sd ** 2),
        cshift=lambda n, sd: torch.zeros_like(n.y),                 # network sees the y-centred residual
        cnoise=lambda n, sd: torch.log(n.sigma) / 4,
        weight=lambda n, sd: (n.sigma ** 2 + sd ** 2) / (n.sigma * sd) ** 2,
    ),
    "edm-scaled-shift": dict(
        cshift=lambda n, sd: n.cin * n.y / n.s,                     # c_in·x/s: EDM's D(x/s) un-centred
    ),
    # Loss weightings of the methods after the paper (docs/design-space.md §13), as weights on |D − (x0 − y)|²:
    # data prediction |x̂0 − x0|² (sgmse's `data_prediction`, Richter et al. 2024, arXiv 2409.10753;
    # its 0.001-weighted time-domain L1 term is left out: our losses are all in the STFT domain).
    "data": dict(
        weight=lambda n, sd: torch.ones_like(n.sigma),
    ),
    # Flow matching's velocity loss |v_θ − v|² (Lipman et al. 2023; FlowSE). Along x = y + s·x̃,
    # v = s'·D + (std'/std)(x − y − s·D) with std = sσ, so v_θ − v = (s' − s·std'/std)(D − d0) and,
    # with s' = −a·s and dσ²/dt = g²/s², the factor is −g²/(2sσ²): the weight is its square.
    "velocity": dict(
        weight=lambda n, sd: (n.sde.g(n.t) ** 2 / (2 * n.s * n.sigma ** 2)) ** 2,
    ),
}

BUNDLES = {"richter": dict.fromkeys(TERMS, "richter"), "edm": dict.fromkeys(TERMS, "edm")}


@dataclass
class Preconditioning:
    """Which scheme each term uses. Build from a bundle name, then override single terms."""
    cskip: str = "edm"
    cout: str = "edm"
    cin: str = "edm"
    cshift: str = "edm"
    cnoise: str = "edm"
    weight: str = "edm"
    sigma_data: float = 0.1

    def __post_init__(self):
        for term in TERMS:
            scheme = getattr(self, term)
            allowed = [k for k, v in PRECONDITIONING.items() if term in v]
            if scheme not in allowed:
                raise ValueError(f"preconditioning.{term}={scheme!r} is not one of {allowed}")

    @classmethod
    def from_config(cls, bundle: str = "edm", sigma_data: float = 0.1, **terms) -> "Preconditioning":
        if bundle not in BUNDLES:
            raise ValueError(f"preconditioning.bundle={bundle!r} is not one of {sorted(BUNDLES)}")
        bad = set(terms) - set(TERMS)
        if bad:
            raise ValueError(f"unknown preconditioning term(s) {sorted(bad)}; terms are {list(TERMS)}")
        chosen = {**BUNDLES[bundle], **{k: v for k, v in terms.items() if v is not None}}
        return cls(**chosen, sigma_data=sigma_data)

    def term(self, name: str, noise: Noise) -> torch.Tensor:
        return PRECONDITIONING[getattr(self, name)][name](noise, self.sigma_data)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Denoiser(nn.Module):
    """D(x̃; σ, t, y) around a raw network F_θ(input [B, 4, F, T], c_noise [B]) -> [B, 2, F, T].

    x̃ and y are complex [B, F, T]; σ and t are [B] (or scalars, broadcast to the batch).
    """

    def __init__(self, net: nn.Module, sde, precond: Preconditioning):
        super().__init__()
        self.net, self.sde, self.precond = net, sde, precond

    def noise(self, sigma, t, y) -> Noise:
        b = y.shape[0]
        sigma = torch.as_tensor(sigma, dtype=y.real.dtype, device=y.device).expand(b).reshape(b, 1, 1)
        t = torch.as_tensor(t, dtype=y.real.dtype, device=y.device).expand(b).reshape(b, 1, 1)
        return Noise(sigma=sigma, t=t, s=self.sde.s(t), y=y, sde=self.sde)

    def forward(self, x_tilde, y, sigma, t):
        n = self.noise(sigma, t, y)
        n.cin = self.precond.term("cin", n)
        x_in = n.cin * x_tilde + self.precond.term("cshift", n)
        c_noise = self.precond.term("cnoise", n).reshape(-1)
        net_in = torch.stack([x_in.real, x_in.imag, y.real, y.imag], dim=1)
        out = self.net(net_in.to(self._param_dtype()), c_noise.to(self._param_dtype())).to(y.real.dtype)
        f = torch.complex(out[:, 0], out[:, 1])
        return self.precond.term("cskip", n) * x_tilde + self.precond.term("cout", n) * f

    def score(self, x, y, sigma, t):
        """∇ₓ log p(x(t) | y) from the denoiser, with x in the SDE's own (scaled, shifted) space."""
        n = self.noise(sigma, t, y)
        x_tilde = (x - y) / n.s
        return (self(x_tilde, y, sigma, t) - x_tilde) / (n.s * n.sigma ** 2)

    def loss_weight(self, sigma, t, y):
        return self.precond.term("weight", self.noise(sigma, t, y)).reshape(-1)

    def _param_dtype(self):
        p = next(self.net.parameters(), None)
        return torch.float32 if p is None else p.dtype
