"""The front end shared by every model: compressed complex STFT and its exact inverse.

Follows the paper's code (brever `SGMSEp.transform`/`_enhance` and `modules/stft.py`,
docs/design-space.md section 6): 16 kHz, 512-sample periodic Hann window, hop 128, centred frames with
zero padding, no window normalisation, amplitude compression, the Nyquist bin dropped so that the
network sees 256 bins, and peak normalisation by the mixture that is undone on output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

_TINY = 1e-30


@lru_cache(maxsize=16)
def _hann(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # periodic Hann = scipy.signal.get_window('hann', n), as in the paper's code; cached so that
    # a GPU run does not rebuild it on every call
    return torch.hann_window(n, periodic=True, dtype=dtype, device=device)


@dataclass(frozen=True)
class Frontend:
    n_fft: int = 512
    hop: int = 128
    alpha: float = 0.5   # compression exponent
    beta: float = 0.15   # compression scale
    discard_nyquist: bool = True

    def __post_init__(self):
        if self.n_fft <= 0 or self.n_fft % 2:
            raise ValueError(f"Frontend: n_fft must be a positive even number, got {self.n_fft}")
        if not 0 < self.hop <= self.n_fft // 2:
            # beyond 50 % hop a Hann window no longer overlap-adds to a constant (no exact inverse)
            raise ValueError(f"Frontend: hop must be in (0, n_fft/2], got {self.hop}")
        if self.alpha <= 0 or self.beta <= 0:
            raise ValueError(f"Frontend: alpha and beta must be positive, got {self.alpha}, "
                             f"{self.beta}")

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + (0 if self.discard_nyquist else 1)

    def n_frames(self, length: int) -> int:
        """Frames that `stft` gives for `length` samples (to mask zero-padded batch items)."""
        return self._padded_length(length) // self.hop + 1

    def _padded_length(self, length: int) -> int:
        # brever pads on the right up to a whole number of frames so that no trailing sample is
        # dropped by torch.stft (pytorch issue 70073), then torch.stft centres the frames.
        frames = math.ceil(max(length - self.n_fft, 0) / self.hop) + 1
        return (frames - 1) * self.hop + self.n_fft

    def _window(self, like: torch.Tensor) -> torch.Tensor:
        return _hann(self.n_fft, like.dtype, like.device)

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """wav [..., L] (real) -> compressed complex spectrogram [..., n_freq, n_frames(L)]."""
        if wav.is_complex() or wav.ndim == 0:
            raise ValueError(f"Frontend.stft expects a real tensor [..., L], got "
                             f"{tuple(wav.shape)} {wav.dtype}")
        length = wav.shape[-1]
        x = F.pad(wav, (0, self._padded_length(length) - length))
        lead = x.shape[:-1]
        spec = torch.stft(x.reshape(-1, x.shape[-1]), self.n_fft, self.hop, window=self._window(x),
                          center=True, pad_mode="constant", normalized=False, onesided=True,
                          return_complex=True)
        if self.discard_nyquist:
            spec = spec[:, :-1]
        # amplitude compression beta*|X|^alpha*exp(j*angle X) (SGMSE+, Richter et al. 2023), as
        # X*beta*|X|^(alpha-1): no trigonometry, and the clamp keeps X = 0 at 0 instead of NaN
        spec = spec * (self.beta * spec.abs().clamp_min(_TINY).pow(self.alpha - 1.0))
        return spec.reshape(*lead, *spec.shape[-2:])

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of `stft`: [..., n_freq, T] complex -> [..., length] real."""
        if not spec.is_complex() or spec.ndim < 2 or spec.shape[-2] != self.n_freq:
            raise ValueError(f"Frontend.istft expects a complex tensor [..., {self.n_freq}, T], "
                             f"got {tuple(spec.shape)} {spec.dtype}")
        lead = spec.shape[:-2]
        z = spec.reshape(-1, *spec.shape[-2:])
        # |X| = (|Z|/beta)^(1/alpha), phase kept: X = Z*|Z|^(1/alpha-1)/beta^(1/alpha), which is
        # smooth at Z = 0 for alpha <= 1 (gradients may flow through the inverse)
        z = z * (z.abs().clamp_min(_TINY).pow(1.0 / self.alpha - 1.0)
                 / self.beta ** (1.0 / self.alpha))
        if self.discard_nyquist:
            z = F.pad(z, (0, 0, 0, 1))  # the dropped Nyquist bin comes back as zero
        frames = z.shape[-1]
        wav = torch.istft(z, self.n_fft, self.hop, window=self._window(z.real), center=True,
                          normalized=False, onesided=True, length=(frames - 1) * self.hop)
        if length > wav.shape[-1]:
            raise ValueError(f"Frontend.istft: {frames} frames hold at most {wav.shape[-1]} "
                             f"samples, asked for {length}")
        return wav[..., :length].reshape(*lead, length)


def peak_normalise(noisy: torch.Tensor, *others: torch.Tensor):
    """Divide the mixture and the other signals by the mixture's peak, per item.

    Works on [L] or [B, L] (any leading shape); returns (factor, noisy/factor, *others/factor)
    with factor shaped [..., 1] so that `enhanced * factor` restores the input scale. Zero-padded
    tails do not change the peak. An all-zero mixture keeps factor 1 instead of dividing by zero.
    """
    factor = noisy.abs().amax(dim=-1, keepdim=True)
    factor = torch.where(factor > 0, factor, torch.ones_like(factor))
    return (factor, noisy / factor, *(o / factor for o in others))
