"""The two kinds of model a cell trains: a diffusion model and the predictive baseline.

Both wrap one raw network and expose the same two calls, so training and enhancement never ask
which kind they hold:
    model.loss(x0, y, mask, generator) -> (loss, per-example loss, σ or None)
    model.enhance(y, sampler, generator) -> Sample(x̂0, nfe)
on compressed complex spectrograms [B, F, T].
"""
from __future__ import annotations

import torch
from torch import nn

from .diffusion.losses import denoising_loss
from .diffusion.preconditioning import Denoiser, Preconditioning
from .diffusion.samplers import Sample, sample


class DiffusionModel(nn.Module):
    kind = "diffusion"

    def __init__(self, net: nn.Module, sde, precond: Preconditioning, noise_law, input_perturbation: float = 0.0):
        super().__init__()
        self.net = net
        self.denoiser = Denoiser(net, sde, precond)
        self.sde, self.noise_law, self.input_perturbation = sde, noise_law, float(input_perturbation)

    def loss(self, x0, y, mask=None, generator=None):
        return denoising_loss(self.denoiser, self.noise_law, x0, y, mask=mask, generator=generator,
                              perturb=self.input_perturbation)

    def enhance(self, y, sampler, generator=None) -> Sample:
        return sample(sampler, self.denoiser, self.sde, y, generator)


class PredictiveModel(nn.Module):
    """The paper's discriminative comparison: the same network regresses x0 from y in one pass.

    x̂0 = y + σ_d·F([0, 0, Re y, Im y]; c_noise = 0), loss |x̂0 − x0|²/σ_d²: the residual form and
    scale of the diffusion denoiser at σ → ∞, so both models see inputs and targets of one size.
    """
    kind = "predictive"

    def __init__(self, net: nn.Module, sigma_data: float = 0.1):
        super().__init__()
        self.net, self.sigma_data = net, sigma_data

    def forward(self, y):
        dtype = next(self.net.parameters()).dtype
        zeros = torch.zeros_like(y.real)
        inp = torch.stack([zeros, zeros, y.real, y.imag], dim=1).to(dtype)
        out = self.net(inp, torch.zeros(y.shape[0], dtype=dtype, device=y.device)).to(y.real.dtype)
        return y + self.sigma_data * torch.complex(out[:, 0], out[:, 1])

    def loss(self, x0, y, mask=None, generator=None):
        err = (self(y) - x0).abs() ** 2 / self.sigma_data ** 2
        if mask is None:
            per = err.mean(dim=(1, 2))
        else:
            per = ((err * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1)).mean(dim=1)
        return per.mean(), per.detach(), None

    @torch.no_grad()
    def enhance(self, y, sampler=None, generator=None) -> Sample:
        return Sample(x=self(y), nfe=1)
