"""The SDEs of the design space (docs/design-space.md §1–2), all of one form.

    forward SDE   dx = a(t)·(y − x) dt + g(t) dw                       (drift toward the noisy y)
    marginal      x(t) = y + s(t)·[(x0 − y) + σ(t)·n],  n ~ CN(0, I)
    with          s(t) = exp(−∫₀ᵗ a),   σ(t)² = ∫₀ᵗ g²/s²               (EDM's s, σ; Karras et al. eq. 4)
    prior         x(1) = y + s(1)·σ(1)·n                              (drops s(1)(x0 − y): the prior mismatch)

γ (`stiffness`) is the "progressive transformation" toward y: s(t) = e^{−γt}·s̄(t). With γ = 0,
`ouve`, `ouvp` and `oucosine` are plain VE, VP and cosine-VP centred on y. Names follow brever
(`brever-ouve` is registered as `ouve`, with the brever name as an alias); parameters and defaults are
brever's. `sbve` (Schrödinger bridge) and `flow` (flow matching) come after the paper and take their
authors' defaults (sp-uhh/sgmse, seongq/flowmse). Every function takes a tensor t and broadcasts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.special import expi


class NoInverse(NotImplementedError):
    """σ⁻¹ has no closed form for this SDE (samplers that need it refuse it at config time)."""


@dataclass
class SDE:
    def s(self, t):
        raise NotImplementedError

    def sigma(self, t):
        raise NotImplementedError

    def sigma_inv(self, sigma):
        raise NoInverse(f"{type(self).__name__} has no closed-form σ⁻¹")

    def a(self, t):
        """Drift coefficient: f(x, y, t) = a(t)·(y − x)."""
        raise NotImplementedError

    def g(self, t):
        raise NotImplementedError

    @property
    def has_sigma_inv(self) -> bool:
        return type(self).sigma_inv is not SDE.sigma_inv

    stiff_near_prior = False          # True where explicit x-in-t steps diverge near t = 1

    def prior(self, y, generator=None):
        t1 = torch.ones((), dtype=y.real.dtype, device=y.device)
        return y + self.s(t1) * self.sigma(t1) * complex_randn(y, generator)

    # The two SDE forms the samplers integrate (docs/design-space.md §1).
    def probability_flow(self, x, y, score, t):
        """dx/dt = a(y − x) − ½g²·∇log p."""
        return self.a(t) * (y - x) - 0.5 * self.g(t) ** 2 * score

    def reverse_drift(self, x, y, score, t):
        """Drift of the reverse-time SDE: a(y − x) − g²·∇log p."""
        return self.a(t) * (y - x) - self.g(t) ** 2 * score


def complex_randn(like, generator=None):
    """n ~ CN(0, I): E|n|² = 1, so Re and Im each have variance ½ (torch.randn on a complex dtype).

    brever's reverse step draws *real* noise for a complex x (torch.randn(x.shape)), putting all of
    the step's noise in the real part; we use complex noise everywhere, as its corrector and prior do.
    """
    return torch.randn(like.shape, dtype=like.dtype, device=like.device, generator=generator)


def _t(t, ref):
    return torch.as_tensor(t, dtype=getattr(ref, "dtype", torch.float64))


# ---------------------------------------------------------------------------------------------
# Ornstein–Uhlenbeck with variance-exploding diffusion: drift γ, s = e^{−γt}, g ∝ σ_p^t.

@dataclass
class _OUVarExploding(SDE):
    stiffness: float = 1.5          # γ (SGMSE+ "theta")
    sigma_min: float = 0.05
    sigma_max: float = 0.5

    def __post_init__(self):
        if not self.sigma_min > 0:
            raise ValueError(f"sde.sigma_min={self.sigma_min!r}: the VE schedule σ_min·(σ_max/σ_min)^t needs σ_min > 0")

    @property
    def _L(self):
        return math.log(self.sigma_max / self.sigma_min)

    def s(self, t):
        return torch.exp(-self.stiffness * t)

    def a(self, t):
        return torch.full_like(t, self.stiffness)


@dataclass
class RichterOUVE(_OUVarExploding):
    """SGMSE+'s OUVE (Richter et al. 2023) verbatim: here γ also changes σ(t)."""

    def sigma(self, t):
        L, gam = self._L, self.stiffness
        return self.sigma_min * torch.sqrt(torch.expm1(2 * (L + gam) * t) / (1 + gam / L))

    def sigma_inv(self, sigma):
        L, gam = self._L, self.stiffness
        return torch.log1p((1 + gam / L) * (sigma / self.sigma_min) ** 2) / (2 * (gam + L))

    def g(self, t):
        return self.sigma_min * torch.exp(self._L * t) * math.sqrt(2 * self._L)


@dataclass
class OUVE(_OUVarExploding):
    """brever's "alternative OUVE": σ(t) is the pure VE schedule whatever γ is (γ = 0 is VE)."""

    def sigma(self, t):
        return self.sigma_min * torch.sqrt(torch.expm1(2 * self._L * t))

    def sigma_inv(self, sigma):
        return torch.log1p((sigma / self.sigma_min) ** 2) / (2 * self._L)

    def g(self, t):
        return torch.exp(-self.stiffness * t) * self.sigma_min * torch.exp(self._L * t) * math.sqrt(2 * self._L)


# ---------------------------------------------------------------------------------------------
# OU + variance preserving with linear β(t) (γ = 0 is VP). β range is brever's, not EDM's (0.1–20).

class _OUVarPreserving(SDE):
    """OU drift γ on top of a VP process: a = γ + β/2, g = e^{−γt}√β, s = e^{−γt}/√(1 + σ²),
    with β(t) = d ln(1 + σ²)/dt from the subclass's schedule."""

    def s(self, t):
        return torch.exp(-self.stiffness * t) / torch.sqrt(1 + self.sigma(t) ** 2)

    def a(self, t):
        return self.stiffness + 0.5 * self.beta(t)

    def g(self, t):
        return torch.exp(-self.stiffness * t) * torch.sqrt(self.beta(t))


@dataclass
class OUVP(_OUVarPreserving):
    stiffness: float = 1.5
    beta_min: float = 0.01
    beta_max: float = 1.0

    def beta(self, t):
        return self.beta_min + (self.beta_max - self.beta_min) * t

    def sigma(self, t):
        bd = self.beta_max - self.beta_min
        return torch.sqrt(torch.expm1(0.5 * bd * t ** 2 + self.beta_min * t))

    def sigma_inv(self, sigma):
        bd, b0 = self.beta_max - self.beta_min, self.beta_min
        return (torch.sqrt(b0 ** 2 + 2 * bd * torch.log1p(sigma ** 2)) - b0) / bd


# ---------------------------------------------------------------------------------------------
# OU + shifted-cosine VP: log-SNR λ = −2 ln tan(πt′/2) + shift, t′ = t_max + (t_min − t_max)·t.

@dataclass
class OUCosine(_OUVarPreserving):
    stiffness: float = 1.5
    lambda_min: float = -12.0
    lambda_max: float = math.inf
    shift: float = 3.0
    # β = d ln(1+σ²)/dt grows without bound near t = 1 (≈ 570 at t = 1). brever clamps it at 10 so
    # that Euler–Maruyama steps of the PC sampler stay stable; we keep the clamp because it is what
    # produced the paper's numbers. It makes a and g disagree with the closed-form s and σ for
    # t ≳ 0.87 (tested: the identities hold below the clamp, and everywhere with beta_clamp=inf).
    beta_clamp: float = 10.0

    @property
    def _t_lo(self):   # t′ at t = 0 (λ_max); brever's `t_max`
        return 2 / math.pi * math.atan(math.exp(-self.lambda_max / 2))

    @property
    def _t_hi(self):   # t′ at t = 1 (λ_min); brever's `t_min`
        return 2 / math.pi * math.atan(math.exp(-self.lambda_min / 2))

    def _tp(self, t):
        return self._t_lo + (self._t_hi - self._t_lo) * t

    def sigma(self, t):
        return math.exp(-self.shift / 2) * torch.tan(math.pi * self._tp(t) / 2)

    def sigma_inv(self, sigma):
        tp = 2 / math.pi * torch.atan(sigma * math.exp(self.shift / 2))
        return (tp - self._t_lo) / (self._t_hi - self._t_lo)

    def beta(self, t):
        """d/dt ln(1 + σ²), clamped."""
        u = math.pi * self._tp(t) / 2
        tan = torch.tan(u)
        b = math.pi * (self._t_hi - self._t_lo) * tan / (torch.cos(u) ** 2 * (math.exp(self.shift) + tan ** 2))
        return b.clamp(max=self.beta_clamp)


# ---------------------------------------------------------------------------------------------
# Brownian bridges (Lay et al. 2023): s(t) = 1 − τ with τ = t_max·t, so the mean goes from x0 to y.
# brever's drift is (y − x)/(1 − τ), while −d ln s/dt = t_max/(1 − τ), and its g is written in τ
# while σ² integrates over τ. We use a = t_max/(1 − τ) and g = √t_max·g_τ so that s = exp(−∫a) and
# σ² = ∫g²/s² hold exactly (the change from brever is below 0.1%).

@dataclass
class _MeanToY(SDE):
    """s = 1 − τ, τ = t_max·t: the mean moves linearly from x0 to y (the bridges and the flow)."""
    t_max: float = 0.999

    def _tau(self, t):
        return self.t_max * t

    def s(self, t):
        return 1 - self._tau(t)

    def a(self, t):
        return self.t_max / (1 - self._tau(t))

    def g(self, t):
        return math.sqrt(self.t_max) * self._g_tau(self._tau(t))


@dataclass
class _Bridge(_MeanToY):
    scaling: float = 0.1            # c
    # The std s·σ of x(t) − y vanishes at t = 1, so d ln(sσ)/dt diverges there: explicit steps of x
    # in t are unstable (samplers.build_sampler refuses them; the σ-space solvers are exact here).
    stiff_near_prior = True


@dataclass
class BBED(_Bridge):
    """Exponential diffusion g_τ = c·k^τ. Defaults are brever's, not Lay et al.'s (k 2.6, c 0.51)."""
    k: float = 10.0

    def _g_tau(self, tau):
        return self.scaling * self.k ** tau

    def sigma(self, t):
        # ∫₀^τ c²k^{2u}/(1−u)² du in closed form with the exponential integral Ei.
        tau = self._tau(t)
        lk2, k2 = 2 * math.log(self.k), self.k ** 2
        ei = torch.as_tensor(expi(((tau - 1) * lk2).detach().cpu().double().numpy()))
        ei = ei.to(tau)
        var = k2 * lk2 * (ei - expi(-lk2)) - k2 ** tau / (tau - 1) - 1
        return self.scaling * torch.sqrt(var.clamp(min=0))


@dataclass
class BBCD(_Bridge):
    """Constant diffusion g_τ = c."""

    def _g_tau(self, tau):
        return torch.full_like(tau, self.scaling)

    def sigma(self, t):
        tau = self._tau(t)
        return self.scaling * torch.sqrt(tau / (1 - tau))

    def sigma_inv(self, sigma):
        return sigma ** 2 / (self.scaling ** 2 + sigma ** 2) / self.t_max


@dataclass
class BBLS(_Bridge):
    """Linear standard deviation: σ = c·τ, g_τ = c(1 − τ)√(2τ)."""

    def _g_tau(self, tau):
        return self.scaling * (1 - tau) * torch.sqrt(2 * tau)

    def sigma(self, t):
        return self.scaling * self._tau(t)

    def sigma_inv(self, sigma):
        return sigma / (self.scaling * self.t_max)


# ---------------------------------------------------------------------------------------------
# Beyond the paper (docs/design-space.md §13): two processes whose mean also moves from x0 to y, in the same form.

@dataclass
class SBVE(SDE):
    """Schrödinger bridge, variance-exploding (Jukić et al. 2024; sp-uhh/sgmse `SBVESDE`).

    Its Table 1: f = 0, g = √c·k^t, σ_t² = c(k^{2t} − 1)/(2 ln k), σ̄_t² = σ_T² − σ_t² (+ ε); its eq. 11
    marginal: mean (σ̄_t² x0 + σ_t² y)/σ_T², std σ̄_t σ_t/σ_T, and the prior is y itself. In our form
    that is s = σ̄²/(σ_T² + ε) and σ = std/s. sgmse's ε (1e-8) keeps s(1) = ε/(σ_T² + ε) > 0, so x̃
    stays finite at the prior (x(1) = y + √ε·n, std 1e-4); here ε also enters s's denominator so that
    s(0) = 1 exactly (sgmse's mean weights are the same; its std uses σ_T + ε, a 1e-8 difference).
    The bridge pinned at y is the same Gaussian Markov process as dx = a(y − x)dt + g̃ dw with our a
    and g̃ below (equal means, variances and covariances u_s(1 − u_t/σ_T²)), so every sampler applies.
    """
    k: float = 2.6
    c: float = 0.4
    eps: float = 1e-8
    stiff_near_prior = True           # the std √ε at t = 1: x-in-t steps diverge there

    def _u(self, t):                  # σ_t² of the paper (SB notation), not our σ
        return self.c * torch.expm1(2 * math.log(self.k) * t) / (2 * math.log(self.k))

    @property
    def _uT(self):
        return self.c * (self.k ** 2 - 1) / (2 * math.log(self.k))

    def _bar2(self, t):               # σ̄_t² + ε
        return self._uT - self._u(t) + self.eps

    def s(self, t):
        return self._bar2(t) / (self._uT + self.eps)

    def sigma(self, t):
        # σ² = K·u/σ̄², K = (σ_T² + ε)²/σ_T²
        return torch.sqrt(self._u(t) / self._bar2(t)) * (self._uT + self.eps) / math.sqrt(self._uT)

    def sigma_inv(self, sigma):
        big_k = (self._uT + self.eps) ** 2 / self._uT
        u = sigma ** 2 * (self._uT + self.eps) / (big_k + sigma ** 2)
        return torch.log1p(2 * math.log(self.k) * u / self.c) / (2 * math.log(self.k))

    def a(self, t):                   # −d ln s/dt = u'/σ̄², u' = c·k^{2t} (the SB's g²)
        return self.c * self.k ** (2 * t) / self._bar2(t)

    def g(self, t):                   # s²·dσ²/dt = u'(σ_T² + ε)/σ_T²: the SB's g up to 1 + ε/σ_T²
        return math.sqrt(self.c * (1 + self.eps / self._uT)) * self.k ** t


@dataclass
class Flow(_MeanToY):
    """Conditional flow matching from x0 to y (Lipman et al. 2023 path; FlowSE, Lee et al. 2025,
    seongq/flowmse `FLOWMATCHING`): x = (1 − τ)x0 + τy + [(1 − τ)σ_min + τσ_max]·n.

    In our form s = 1 − τ (a bridge's, so τ = t_max·t keeps x̃ finite at the prior; FlowSE runs
    τ to 1, the difference is 0.1% of x0 − y left in the prior) and σ = σ_min + σ_max·τ/(1 − τ).
    Unlike the Brownian bridges, the std (1 − τ)σ_min + τσ_max stays away from 0 at t = 1, so the
    probability-flow ODE in x and t (FlowSE's Euler on the velocity) is not stiff there.
    """
    sigma_min: float = 0.0
    sigma_max: float = 0.487          # flowmse's default

    def _g_tau(self, tau):            # g_τ² = s²·dσ²/dτ = 2σ_max·σ(τ)
        return torch.sqrt(2 * self.sigma_max * self._sigma_tau(tau))

    def _sigma_tau(self, tau):
        return self.sigma_min + self.sigma_max * tau / (1 - tau)

    def sigma(self, t):
        return self._sigma_tau(self._tau(t))

    def sigma_inv(self, sigma):
        d = sigma - self.sigma_min
        return d / (d + self.sigma_max) / self.t_max


SDES = {
    "richter-ouve": RichterOUVE,
    "ouve": OUVE,
    "ouvp": OUVP,
    "oucosine": OUCosine,
    "bbed": BBED,
    "bbcd": BBCD,
    "bbls": BBLS,
    "sbve": SBVE,
    "flow": Flow,
}
ALIASES = {"brever-ouve": "ouve", "brever-ouvp": "ouvp", "brever-oucosine": "oucosine"}


def same_process(name: str, stiffness: float | None) -> str:
    """The registry entry that is the same process: at γ = 0 RichterOUVE's σ(t), g(t) and s(t) = 1
    are OUVE's, so it is `ouve` (the two train to bit-identical weights)."""
    if name == "richter-ouve" and stiffness is not None and float(stiffness) == 0.0:
        return "ouve"
    return name


def build_sde(name: str, **params) -> SDE:
    name = ALIASES.get(name, name)
    if name not in SDES:
        raise ValueError(f"sde.name={name!r} is not one of {sorted(SDES)}")
    cls = SDES[name]
    known = set(cls.__dataclass_fields__)
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"sde {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(known)}")
    return cls(**params)
