import math

import pytest
import torch

from benchmark.nets.layers import FIRResampler, NoiseEmbedding, ResBlock, SelfAttention, group_norm


@pytest.mark.parametrize("size", [(256, 189), (128, 7), (5, 1), (1, 1), (32, 2)])
def test_fir_down_halves_rounding_up_and_up_restores_size(size):
    r = FIRResampler([1, 3, 3, 1])
    x = torch.randn(2, 3, *size)
    d = r.down(x)
    assert d.shape[-2:] == tuple(math.ceil(n / 2) for n in size)
    assert r.up(d, size).shape == x.shape


def test_fir_down_preserves_a_constant_away_from_the_border():
    r = FIRResampler([1, 3, 3, 1])
    d = r.down(torch.full((1, 2, 16, 16), 3.0))
    torch.testing.assert_close(d[..., 1:-1, 1:-1], torch.full_like(d[..., 1:-1, 1:-1], 3.0))


def test_fir_up_is_four_times_the_adjoint_of_down():
    # <down x, y> = <x, up y> / 4: up is the transposed filter with the 4x energy correction.
    r = FIRResampler([1, 3, 3, 1])
    for size in [(12, 10), (9, 7)]:
        x = torch.randn(1, 2, *size, dtype=torch.float64)
        r = r.double()
        y = torch.randn_like(r.down(x))
        lhs = (r.down(x) * y).sum()
        rhs = (x * r.up(y, size)).sum() / 4
        torch.testing.assert_close(lhs, rhs)


def test_fir_kernel_is_validated():
    with pytest.raises(ValueError, match="fir_kernel"):
        FIRResampler([1])


def test_group_norm_uses_at_most_32_groups_of_at_least_4_channels():
    assert group_norm(8).num_groups == 2
    assert group_norm(128).num_groups == 32
    assert group_norm(512).num_groups == 32
    assert group_norm(4).num_groups == 1
    assert group_norm(8).eps == 1e-6
    with pytest.raises(ValueError, match="168 channels"):
        group_norm(168)


def test_noise_embedding_depends_on_the_noise_level_and_keeps_frequencies_fixed():
    emb = NoiseEmbedding(32, 64, scale=16.0)
    out = emb(torch.tensor([0.0, 0.1, 0.1]))
    assert out.shape == (3, 64)
    torch.testing.assert_close(out[1], out[2])
    assert not torch.allclose(out[0], out[1])
    assert "freqs" in dict(emb.named_buffers())
    assert all(n != "freqs" for n, _ in emb.named_parameters())


def test_attention_matches_the_softmax_formula():
    torch.manual_seed(0)
    att = SelfAttention(8)
    x = torch.randn(2, 8, 3, 5)
    h = att.norm(x)
    q, k, v = (p(h).flatten(2) for p in (att.q, att.k, att.v))  # [B, C, N]
    w = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(8), dim=-1)  # [B, N, N]
    expected = x + att.out((v @ w.transpose(1, 2)).reshape(2, 8, 3, 5))
    torch.testing.assert_close(att(x), expected, rtol=1e-5, atol=1e-5)


def test_resblock_skip_conv_only_when_channels_change_or_resampling():
    r = FIRResampler([1, 3, 3, 1])
    common = dict(emb_ch=16, skip_scale=0.5**0.5, dropout=0.0)
    assert ResBlock(8, 8, **common).skip is None
    assert ResBlock(8, 16, **common).skip is not None
    assert ResBlock(8, 8, resample="down", resampler=r, **common).skip is not None
    with pytest.raises(ValueError, match="resampler"):
        ResBlock(8, 8, resample="up", **common)


def test_resblock_down_then_up_returns_to_odd_sizes():
    r = FIRResampler([1, 3, 3, 1])
    common = dict(emb_ch=16, skip_scale=0.5**0.5, dropout=0.0)
    down = ResBlock(8, 8, resample="down", resampler=r, **common)
    up = ResBlock(8, 8, resample="up", resampler=r, **common)
    x, emb = torch.randn(2, 8, 11, 5), torch.randn(2, 16)
    h = down(x, emb)
    assert h.shape == (2, 8, 6, 3)
    assert up(h, emb, (11, 5)).shape == x.shape
