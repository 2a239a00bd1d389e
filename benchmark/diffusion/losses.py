"""Training objective (docs/design-space.md §4): denoising score matching in the EDM form.

    x̃ = (x0 − y) + σ·n,   n ~ CN(0, I)
    ℓ = weight(σ) · mean_freq[(1/L) Σ_frames |D(x̃; σ, y) − (x0 − y)|²]     (brever `SGMSEp.loss`)

averaged over the batch, with zero-padded frames masked by `lengths`. The weight is the
preconditioning's `weight` term: `richter` (1/σ², SGMSE+'s score matching) or `edm`.

Which σ are trained is the noise-level law: the paper draws t ~ U[t_eps, 1] and uses σ(t) of the SDE
(so the SDE's schedule sets the σ distribution); EDM draws ln σ ~ N(P_mean, P_std²) (Karras et al. 2022,
§5), an option beyond the paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .sdes import SDE, complex_randn


@dataclass
class UniformT:
    """t ~ U[t_eps, 1], σ = σ(t): the paper and brever (t_eps 0.01; SGMSE+ uses 0.03)."""
    t_eps: float = 0.01

    def draw(self, sde: SDE, n: int, generator=None, device=None):
        t = self.t_eps + (1 - self.t_eps) * torch.rand(n, generator=generator, device=device)
        return sde.sigma(t), t


@dataclass
class LogNormal:
    """ln σ ~ N(P_mean, P_std²) (EDM's EDMLoss), mapped back to t with σ⁻¹ for the t-dependent terms.

    σ is clipped to the SDE's range [σ(t_eps), σ(1)] so that t stays where the sampler will evaluate
    the network (σ⁻¹ beyond it is an extrapolation, and richter's c_noise = ln t would leave [ln t_eps, 0]).
    """
    p_mean: float = -1.2
    p_std: float = 1.2
    t_eps: float = 0.01

    def draw(self, sde: SDE, n: int, generator=None, device=None):
        lo = float(sde.sigma(torch.tensor(self.t_eps)))
        hi = float(sde.sigma(torch.tensor(1.0)))
        z = torch.randn(n, generator=generator, device=device)
        sigma = torch.exp(self.p_mean + self.p_std * z).clamp(lo, hi)
        return sigma, sde.sigma_inv(sigma)


NOISE_LAWS = {"uniform": UniformT, "lognormal": LogNormal}


def build_noise_law(name: str, sde: SDE | None = None, **settings):
    if name not in NOISE_LAWS:
        raise ValueError(f"loss.noise_law={name!r} is not one of {sorted(NOISE_LAWS)}")
    law = NOISE_LAWS[name](**settings)
    if name == "lognormal" and sde is not None and not sde.has_sigma_inv:
        raise ValueError(f"loss.noise_law=lognormal needs σ⁻¹, which SDE {type(sde).__name__} does not have")
    return law


def frame_mask(lengths, n_frames: int, hop: int, device=None):
    """[B, 1, T] mask of frames that hold signal (a centred STFT frame k covers sample k·hop)."""
    if lengths is None:
        return None
    frames = torch.arange(n_frames, device=device)
    return (frames[None, :] * hop < lengths.to(device)[:, None]).float()[:, None, :]


def denoising_loss(denoiser, noise_law, x0, y, *, mask=None, generator=None, perturb: float = 0.0):
    """Per-batch loss; x0 and y are complex [B, F, T]; mask is [B, 1, T] or None.

    perturb γ > 0 is input perturbation (Ning et al., ICML 2023, eq. 9): the net sees
    x̃ = (x0 − y) + σ·(n + γ·ξ) with ξ ~ CN(0, I) drawn apart from n, and is still asked for x0 − y,
    so it learns to take back states a little off the forward process, which a sampler's own
    errors produce (the exposure bias docs/embedded-recipe.md traces). γ = 0 is the paper's loss.

    Returns (loss, per-example loss, σ) so that training can log the loss against σ.
    """
    b = x0.shape[0]
    sigma, t = noise_law.draw(denoiser.sde, b, generator=generator, device=x0.device)
    sigma, t = sigma.to(x0.real.dtype), t.to(x0.real.dtype)
    d0 = x0 - y
    noise = complex_randn(d0, generator)
    if perturb:        # no second draw at γ = 0: the paper's loss keeps its exact random stream
        noise = noise + perturb * complex_randn(d0, generator)
    x_tilde = d0 + sigma.view(b, 1, 1) * noise
    err = (denoiser(x_tilde, y, sigma, t) - d0).abs() ** 2            # complex |·|²: Re² + Im²
    if mask is None:
        per_example = err.mean(dim=(1, 2))
    else:
        per_example = ((err * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1)).mean(dim=1)
    per_example = denoiser.loss_weight(sigma, t, y) * per_example
    return per_example.mean(), per_example.detach(), sigma.detach()
