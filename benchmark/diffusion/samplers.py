"""Samplers (docs/design-space.md §5): predictor–corrector and EDM's stochastic Heun, generalised to y.

Every sampler is a dataclass of its settings with `__call__(denoiser, sde, y, generator) -> x̂0`.
The denoiser is D(x̃, y, σ, t) (preconditioning.Denoiser or an oracle); the score is derived from it
as (D − x̃)/(s·σ²). `sample()` wraps D in a counter, so the NFE it returns is the number of network
evaluations that happened, never a formula (brever reports 2N for Heun where 2N − 1 run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from .sdes import SDE, complex_randn


@dataclass
class Sample:
    x: torch.Tensor     # x̂0, complex, shaped like y
    nfe: int            # denoiser evaluations (each on the whole batch)


class _Counted:
    def __init__(self, denoiser):
        self.denoiser, self.calls = denoiser, 0

    def __call__(self, x_tilde, y, sigma, t):
        self.calls += 1
        return self.denoiser(x_tilde, y, sigma, t)


def _score(D, sde, x, y, sigma, t):
    """∇ₓ log p from the denoiser: (D(x̃) − x̃)/(s σ²), x̃ = (x − y)/s."""
    s = sde.s(t)
    x_tilde = (x - y) / s
    return (D(x_tilde, y, sigma, t) - x_tilde) / (s * sigma ** 2)


# ---------------------------------------------------------------------------------------------
# Predictor–corrector (Song et al. 2021, Alg. 2; SGMSE+): annealed Langevin corrector, then a
# reverse-diffusion (Euler–Maruyama) predictor on t_i = 1 − i/N. The last predictor step follows the
# probability-flow drift without noise, as brever does (sgmse instead returns the reverse-SDE mean).

@dataclass
class PC:
    steps: int = 30                 # N
    corrector_steps: int = 1        # c; NFE = N·(c + 1)
    snr: float = 0.5                # r; Langevin step ε = 2(r·s·σ)²

    def nfe_budget(self) -> int:
        """Network evaluations per utterance, before running (--dry-run); sample() counts the real ones."""
        return self.steps * (self.corrector_steps + 1)

    def needs_sigma_inv(self) -> bool:
        return False

    def __call__(self, D, sde: SDE, y, generator=None):
        n = self.steps
        dt = -1.0 / n
        x = sde.prior(y, generator)
        for i in range(n):
            t = torch.tensor(1.0 - i / n, dtype=y.real.dtype, device=y.device)
            sigma = sde.sigma(t)
            eps = 2 * (self.snr * sde.s(t) * sigma) ** 2
            for _ in range(self.corrector_steps):
                x = x + eps * _score(D, sde, x, y, sigma, t) + torch.sqrt(2 * eps) * complex_randn(x, generator)
            score = _score(D, sde, x, y, sigma, t)
            if i < n - 1:
                x = x + sde.reverse_drift(x, y, score, t) * dt + sde.g(t) * math.sqrt(-dt) * complex_randn(x, generator)
            else:
                x = x + sde.probability_flow(x, y, score, t) * dt
        return x


# ---------------------------------------------------------------------------------------------
# EDM stochastic sampler (Karras et al. 2022, Alg. 2) with x → x − y and the SDE's own s(t), σ(t).
#   churn:  σ̂ = σ_i(1 + γ_i), γ_i = min(S_churn/N, √2 − 1) on S_min ≤ σ_i ≤ S_max
#   step:   Euler along the probability-flow ODE, then Heun's correction except on the last step.
# `scaling` is EDM's ablation axis: `sde` integrates x in t with the SDE's drift and diffusion
# (brever's solver, dx/dt = a(y − x) − ½g²∇log p); `none` integrates x̃ = (x − y)/s in σ
# (dx̃/dσ = (x̃ − D)/σ, EDM's Alg. 1 with s = 1), which is γ-free and straighter on VP-like schedules.

@dataclass
class EDM:
    steps: int = 16                 # N; Heun makes 2N − 1 evaluations
    churn: float = math.inf         # S_churn; brever's default ∞ gives γ = √2 − 1 on every step
    s_min: float = 0.0
    s_max: float = math.inf
    s_noise: float = 1.0
    solver: str = "heun"            # heun | euler
    scaling: str = "sde"            # sde (brever, x in t) | none (EDM, x̃ in σ)
    grid: str = "uniform"           # uniform in t (the paper) | rho (EDM's σ grid)
    rho: float = 7.0
    t_min: float = 0.01             # lowest non-zero t of the rho grid (the training range's t_eps)
    t_start: float = 1.0            # start the reverse process at t_start (prior at that t)
    sigma_start: float | None = None  # or at the t where σ(t) = sigma_start (EDM's σ_max), any SDE
    first_step: str = "same"        # same | euler: an Euler first step tames the cosine σ_max jump
    t_end: float = 0.0              # > 0: N grid points from t_start to t_end, then one step to 0
                                    # (FlowSE's grid: t_end = its t_eps 0.03)
    start: str = "plain"            # plain: x = y + s·σ₀·n (brever) | matched: y + s·√(σ₀² + σ_d²)·n
    sigma_data: float = 0.1         # σ_d of the matched start (config: preconditioning.sigma_data)

    def __post_init__(self):
        for name, allowed in (("solver", ("heun", "euler", "midpoint")), ("scaling", ("sde", "none")),
                              ("grid", ("uniform", "rho")), ("first_step", ("same", "euler")),
                              ("start", ("plain", "matched"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"sampler.{name}={getattr(self, name)!r} is not one of {list(allowed)}")
        if self.sigma_start is not None and not (self.sigma_start > 0 and self.t_start == 1.0):
            raise ValueError(f"sampler.sigma_start={self.sigma_start!r}: must be positive, and t_start "
                             f"left at 1.0 (set one of the two)")
        if not 0.0 <= self.t_end < 1.0:
            raise ValueError(f"sampler.t_end={self.t_end!r}: must be in [0, 1)")

    def start_time(self, sde: SDE) -> float:
        """t_start, or the t at which σ(t) = sigma_start (σ is increasing in t for every SDE here:
        bisection, so SDEs without a closed-form σ⁻¹ start at the same noise level too)."""
        if self.sigma_start is None:
            return self.t_start
        lo, hi = 0.0, 1.0
        if float(sde.sigma(torch.tensor(hi, dtype=torch.float64))) <= self.sigma_start:
            return hi
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = float(sde.sigma(torch.tensor(mid, dtype=torch.float64))) < self.sigma_start
            lo, hi = (mid, hi) if below else (lo, mid)
        return hi

    def start_std(self, sigma0):
        """The std of x̃ = (x − y)/s at the start. The marginal there is (x0 − y) + σ₀·n, whose std is
        √(σ₀² + σ_d²); `plain` (brever's prior, also at σ_start) drops the σ_d part, a mismatch that
        grows as σ₀ falls toward σ_d: with the exact denoiser, N = 3 from σ₀ = 0.25 ends at std 0.073
        instead of 0.1 (docs/studies.md, 'The start of the reverse process'). `matched` draws from the
        marginal's Gaussian approximation."""
        if self.start == "matched":
            return torch.sqrt(sigma0 ** 2 + self.sigma_data ** 2)
        return sigma0

    def gamma(self) -> float:
        return min(self.churn / self.steps, math.sqrt(2) - 1) if self.churn > 0 else 0.0

    def nfe_budget(self) -> int:
        """Heun: 2N − 1 (no correction on the last step, one fewer with an Euler first step); Euler: N;
        midpoint: 2N."""
        if self.solver == "euler":
            return self.steps
        if self.solver == "midpoint":
            return 2 * self.steps
        return 2 * self.steps - 1 - (1 if self.first_step == "euler" and self.steps > 1 else 0)

    def needs_sigma_inv(self) -> bool:
        # the midpoint of a step in σ (scaling none) is a σ whose t the network needs
        return self.gamma() > 0 or self.grid == "rho" or (self.solver == "midpoint" and self.scaling == "none")

    def time_grid(self, sde: SDE, dtype=torch.float64, device=None):
        """(t_i, σ_i) for i = 0..N, ending at t = σ = 0."""
        n, t_start = self.steps, self.start_time(sde)
        if self.grid == "uniform" and self.t_end > 0:
            t = torch.cat([torch.linspace(t_start, self.t_end, n, dtype=torch.float64),
                           torch.zeros(1, dtype=torch.float64)])
            sigma = sde.sigma(t)
        elif self.grid == "uniform":
            t = torch.linspace(t_start, 0.0, n + 1, dtype=torch.float64)
            sigma = sde.sigma(t)
        else:
            hi = sde.sigma(torch.tensor(t_start, dtype=torch.float64)) ** (1 / self.rho)
            lo = sde.sigma(torch.tensor(self.t_min, dtype=torch.float64)) ** (1 / self.rho)
            frac = torch.arange(n, dtype=torch.float64) / max(n - 1, 1)
            sigma = torch.cat([(hi + frac * (lo - hi)) ** self.rho, torch.zeros(1, dtype=torch.float64)])
            t = torch.cat([sde.sigma_inv(sigma[:-1]), torch.zeros(1, dtype=torch.float64)])
            t[0] = t_start
        sigma[-1] = 0.0
        return t.to(dtype=dtype, device=device), sigma.to(dtype=dtype, device=device)

    def __call__(self, D, sde: SDE, y, generator=None):
        t, sigma = self.time_grid(sde, y.real.dtype, y.device)
        s = sde.s
        x = y + s(t[0]) * self.start_std(sigma[0]) * complex_randn(y, generator)   # the prior, at t_start
        if self.scaling == "none":
            x = (x - y) / s(t[0])                                    # state is x̃; variable is σ

        def deriv(x, t_, sig):
            if self.scaling == "none":
                return (x - D(x, y, sig, t_)) / sig
            return sde.probability_flow(x, y, _score(D, sde, x, y, sig, t_), t_)

        var = sigma if self.scaling == "none" else t
        g = self.gamma()
        for i in range(self.steps):
            gamma = g if self.s_min <= float(sigma[i]) <= self.s_max else 0.0
            t_hat, sig_hat = t[i], sigma[i]
            if gamma > 0:
                sig_hat = sigma[i] * (1 + gamma)
                t_hat = sde.sigma_inv(sig_hat)
                z = self.s_noise * torch.sqrt(sig_hat ** 2 - sigma[i] ** 2) * complex_randn(x, generator)
                if self.scaling == "none":
                    x = x + z
                else:
                    x = s(t_hat) / s(t[i]) * (x - y) + y + s(t_hat) * z
            u_hat = sig_hat if self.scaling == "none" else t_hat
            h = var[i + 1] - u_hat
            d = deriv(x, t_hat, sig_hat)
            if self.solver == "midpoint":
                # x + h·f(x + ½h·f(x)): second order, and its evaluation is never at σ = 0, so the
                # last step is a midpoint step too (2N evaluations)
                u_mid = u_hat + 0.5 * h
                t_mid, s_mid = (sde.sigma_inv(u_mid), u_mid) if self.scaling == "none" else (u_mid, sde.sigma(u_mid))
                x = x + h * deriv(x + 0.5 * h * d, t_mid, s_mid)
                continue
            x_next = x + h * d
            heun = self.solver == "heun" and i < self.steps - 1 and not (i == 0 and self.first_step == "euler")
            if heun:
                x_next = x + 0.5 * h * (d + deriv(x_next, t[i + 1], sigma[i + 1]))
            x = x_next
        if self.scaling == "none":
            x = y + s(t[-1]) * x
        return x


def Euler(**settings) -> EDM:
    """First-order sampler: EDM's loop without the Heun correction (deterministic unless churn > 0)."""
    return EDM(**{"solver": "euler", "churn": 0.0, **settings})


# ---------------------------------------------------------------------------------------------
# Ancestral sampling (Ho et al. 2020's posterior step, in σ): x̃ = (x − y)/s is x0 − y plus a
# Brownian motion in σ² for every SDE here, so given x̃ at σ and the estimate D of x0 − y,
#     x̃' ~ N(D + (σ'²/σ²)(x̃ − D), σ'²(1 − σ'²/σ²)),
# a Brownian bridge from D to x̃. On `sbve` this is the Schrödinger bridge's SDE sampler (sgmse
# `get_sb_sampler(sampler_type="sde")`, x' = r·x + (1 − r)·x̂0 + σ_t'√(1 − r)·z, r = σ_t'²/σ_t²),
# and its ODE sampler is `euler` with scaling=none (the DDIM step x̃' = D + (σ'/σ)(x̃ − D)).
# The grid is uniform in t from 1 to 0, one evaluation a step; the last step, to σ = 0, returns D.

@dataclass
class Ancestral:
    steps: int = 5                  # N = NFE

    def nfe_budget(self) -> int:
        return self.steps

    def needs_sigma_inv(self) -> bool:
        return False

    def __call__(self, D, sde: SDE, y, generator=None):
        t, sigma = EDM(steps=self.steps).time_grid(sde, y.real.dtype, y.device)    # uniform in t, 1 → 0
        x_tilde = sigma[0] * complex_randn(y, generator)             # the prior, (x(1) − y)/s(1)
        for i in range(self.steps):
            d = D(x_tilde, y, sigma[i], t[i])
            r = (sigma[i + 1] / sigma[i]) ** 2
            x_tilde = d + r * (x_tilde - d)
            if i < self.steps - 1:
                x_tilde = x_tilde + sigma[i + 1] * torch.sqrt(1 - r) * complex_randn(y, generator)
        return y + sde.s(t[-1]) * x_tilde


SAMPLERS = {"pc": PC, "edm": EDM, "euler": Euler, "ancestral": Ancestral}


def build_sampler(name: str, sde: SDE | None = None, **settings):
    """A sampler from its registry name and settings; refuses σ⁻¹-needing settings on SDEs without σ⁻¹."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler.name={name!r} is not one of {sorted(SAMPLERS)}")
    cls = EDM if name == "euler" else SAMPLERS[name]
    known = {f.name for f in fields(cls)}
    unknown = set(settings) - known
    if unknown:
        raise ValueError(f"sampler {name!r} has no setting(s) {sorted(unknown)}; it takes {sorted(known)}")
    sampler = SAMPLERS[name](**settings)
    if sde is not None and getattr(sampler, "scaling", None) == "sde" and sde.stiff_near_prior:
        # a(t) = t_max/(1 − τ) reaches 1000 at t = 1 while the std of x − y goes to 0: explicit
        # steps in t blow up (measured with the exact denoiser: output std ×3 for bbed/bbcd at N = 16).
        # brever runs bridges with `pc` only. `flow` is a bridge whose std does not vanish: allowed.
        raise ValueError(f"sampler {name!r} with scaling='sde' is unstable on the bridge "
                         f"{type(sde).__name__}: use scaling=none (x̃ in σ) or sampler=pc")
    if sde is not None and sampler.needs_sigma_inv() and not sde.has_sigma_inv:
        raise ValueError(
            f"sampler {name!r} with churn={getattr(sampler, 'churn', 0)} / grid={getattr(sampler, 'grid', '')!r} "
            f"needs σ⁻¹, which SDE {type(sde).__name__} does not have: use sampler=pc, or churn=0 with grid=uniform")
    return sampler


@torch.no_grad()
def sample(sampler, denoiser, sde: SDE, y, generator=None) -> Sample:
    counted = _Counted(denoiser)
    x = sampler(counted, sde, y, generator)
    return Sample(x=x, nfe=counted.calls)
