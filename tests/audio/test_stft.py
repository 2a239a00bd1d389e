import numpy as np
import pytest
import scipy.signal
import torch

from benchmark.audio.stft import Frontend, peak_normalise


def _bandlimited(n: int, seed: int, cutoff_hz: float = 6000.0) -> torch.Tensor:
    """Random audio with nothing near Nyquist and faded ends (so no edge transient reaches it)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, n, generator=g, dtype=torch.float64)
    spec = torch.fft.rfft(x)
    spec[..., torch.fft.rfftfreq(n, 1 / 16000) > cutoff_hz] = 0
    x = torch.fft.irfft(spec, n=n) * torch.hann_window(n, periodic=False, dtype=torch.float64)
    return (x / x.abs().max()).float()


@pytest.mark.parametrize("length", [16000, 16001, 1000, 513, 100])
def test_round_trip_is_exact_on_random_audio(length):
    fe = Frontend(discard_nyquist=False)
    x = torch.rand(3, length, generator=torch.Generator().manual_seed(length)) * 2 - 1
    assert (fe.istft(fe.stft(x), length) - x).abs().max() < 1e-5


def test_default_round_trip_with_nyquist_dropped():
    fe = Frontend()
    x = _bandlimited(32000, seed=1)
    spec = fe.stft(x)
    assert spec.shape == (2, 256, fe.n_frames(32000))
    assert (fe.istft(spec, 32000) - x).abs().max() < 1e-5


def test_dropping_nyquist_loses_only_the_nyquist_bin():
    # white noise has energy at Nyquist, so the default front end cannot invert it exactly
    x = torch.rand(1, 8000, generator=torch.Generator().manual_seed(3)) * 2 - 1
    err = (Frontend().istft(Frontend().stft(x), 8000) - x).abs().max()
    assert err > 1e-3


def test_frame_matches_a_hand_computed_compressed_dft():
    fe = Frontend()
    x = torch.randn(4000, generator=torch.Generator().manual_seed(0)).double()
    spec = fe.stft(x).numpy()
    # centred frames: frame t covers x[t*hop - n_fft/2 : t*hop + n_fft/2], zero outside the signal
    padded = np.concatenate([np.zeros(256), x.numpy(), np.zeros(1024)])
    window = scipy.signal.get_window("hann", 512)
    for t in (0, 5, 17):
        ref = np.fft.rfft(padded[t * 128:t * 128 + 512] * window)[:256]
        expected = 0.15 * np.abs(ref) ** 0.5 * np.exp(1j * np.angle(ref))
        np.testing.assert_allclose(spec[:, t], expected, rtol=1e-6, atol=1e-9)


def test_no_trailing_sample_is_lost():
    fe = Frontend(discard_nyquist=False)
    for length in (4095, 4096, 4097, 4200):
        x = torch.zeros(length)
        x[-1] = 1.0   # an impulse in the very last sample must survive the round trip
        assert abs(fe.istft(fe.stft(x), length)[-1].item() - 1.0) < 1e-5


def test_smaller_fft_is_a_setting():
    fe = Frontend(n_fft=256, hop=64)
    assert fe.n_freq == 128
    x = _bandlimited(8000, seed=2)
    spec = fe.stft(x)
    assert spec.shape[-2] == 128
    assert (fe.istft(spec, 8000) - x).abs().max() < 1e-5


def test_leading_dimensions_are_kept():
    fe = Frontend()
    x = torch.randn(2, 3, 5000)
    spec = fe.stft(x)
    assert spec.shape == (2, 3, 256, fe.n_frames(5000))
    assert fe.istft(spec, 5000).shape == (2, 3, 5000)


def test_bad_input_is_refused():
    fe = Frontend()
    with pytest.raises(ValueError, match="real tensor"):
        fe.stft(torch.zeros(100, dtype=torch.complex64))
    with pytest.raises(ValueError, match="256"):
        fe.istft(torch.zeros(257, 10, dtype=torch.complex64), 100)
    with pytest.raises(ValueError, match="hop"):
        Frontend(hop=400)


def test_peak_normalise_per_item_and_undo():
    noisy = torch.tensor([[0.5, -2.0, 1.0], [0.1, 0.2, -0.05], [0.0, 0.0, 0.0]])
    clean = torch.tensor([[0.4, -1.0, 0.5], [0.1, 0.1, 0.0], [0.0, 0.0, 0.0]])
    factor, n, c = peak_normalise(noisy, clean)
    assert factor.shape == (3, 1)
    assert torch.allclose(factor.squeeze(1), torch.tensor([2.0, 0.2, 1.0]))
    assert torch.allclose(n.abs().amax(dim=1), torch.tensor([1.0, 1.0, 0.0]))
    assert torch.allclose(c * factor, clean) and torch.allclose(n * factor, noisy)
    assert torch.isfinite(n).all()


def test_silence_and_gradients_stay_finite():
    fe = Frontend()
    assert torch.isfinite(fe.stft(torch.zeros(2000))).all()
    z = torch.zeros(256, 12, dtype=torch.complex64, requires_grad=True)
    fe.istft(z, 1400).sum().backward()   # a zero bin must not give a NaN gradient
    assert torch.isfinite(z.grad).all()
