import pytest
import torch

from benchmark.nets import build_net, count_parameters


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return build_net("tiny")


def test_ncsnpp_m_has_the_papers_parameter_count_and_runs():
    net = build_net("ncsnpp_m")
    assert count_parameters(net) == 27_756_186
    with torch.no_grad():
        out = net(torch.randn(1, 4, 256, 3), torch.zeros(1))
    assert out.shape == (1, 2, 256, 3)
    assert torch.isfinite(out).all()


def test_ncsnpp_has_the_papers_parameter_count():
    assert count_parameters(build_net("ncsnpp")) == 65_590_694


def test_dropout_does_not_change_the_parameter_count():
    assert count_parameters(build_net("tiny", dropout=0.1)) == count_parameters(build_net("tiny"))


def test_tiny_is_well_under_100k_parameters(tiny):
    assert count_parameters(tiny) < 100_000


@pytest.mark.parametrize("freqs", [256, 128])
@pytest.mark.parametrize("frames", [1, 2, 3, 17, 32, 189])
def test_output_has_two_channels_and_the_input_size(tiny, freqs, frames):
    with torch.no_grad():
        out = tiny(torch.randn(2, 4, freqs, frames), torch.randn(2))
    assert out.shape == (2, 2, freqs, frames)
    assert torch.isfinite(out).all()


def test_odd_sizes_work_with_five_levels():
    net = build_net("tiny", channel_mult=(1, 1, 1, 1, 2))
    with torch.no_grad():
        assert net(torch.randn(1, 4, 37, 45), torch.zeros(1)).shape == (1, 2, 37, 45)


def test_attention_sits_where_the_settings_put_it():
    # Level i has num_freqs >> i bins; attention at 32 bins is level 1 of a 64-bin net: its
    # encoder block and its last decoder block, plus the first bottleneck block.
    net = build_net("tiny", num_freqs=64, attn_resolutions=(32,))
    with_attn = sorted(n for n, m in net.named_modules() if getattr(m, "attn", None) is not None)
    assert with_attn == ["decoder.2.2", "encoder.1.0", "mid_1"]
    assert build_net("tiny", attn_bottleneck=False).mid_1.attn is None


def test_gradient_reaches_every_parameter(tiny):
    out = tiny(torch.randn(2, 4, 64, 16), torch.randn(2))
    out.square().mean().backward()
    for name, p in tiny.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_noise_level_changes_the_output(tiny):
    x = torch.randn(1, 4, 64, 16)
    with torch.no_grad():
        a, b = tiny(x, torch.tensor([-1.0])), tiny(x, torch.tensor([1.0]))
    assert (a - b).abs().max() > 1e-3


def test_scalar_noise_level_is_broadcast(tiny):
    x = torch.randn(3, 4, 64, 8)
    with torch.no_grad():
        torch.testing.assert_close(tiny(x, torch.tensor(0.3)), tiny(x, torch.full((3,), 0.3)))


def test_batch_items_are_processed_independently(tiny):
    x, c = torch.randn(2, 4, 64, 10), torch.tensor([0.2, -0.5])
    with torch.no_grad():
        both = tiny(x, c)
        torch.testing.assert_close(both[1:], tiny(x[1:], c[1:]), rtol=1e-4, atol=1e-5)


def test_progressive_paths_feed_the_input_to_every_level():
    # With the main path's first conv zeroed, the input still reaches the output through the
    # progressive input path; without it the output no longer depends on the input at all.
    x1, x2, c = torch.randn(1, 4, 32, 8), torch.randn(1, 4, 32, 8), torch.zeros(1)
    for enc, depends in [("skip", True), ("standard", False)]:
        torch.manual_seed(0)
        net = build_net("tiny", encoder_type=enc)
        with torch.no_grad():
            net.input_conv.weight.zero_()
            net.input_conv.bias.zero_()
            differs = (net(x1, c) - net(x2, c)).abs().max() > 1e-6
        assert bool(differs) == depends, enc


def test_dropout_setting_is_respected():
    x, c = torch.randn(1, 4, 64, 16), torch.zeros(1)
    torch.manual_seed(0)
    plain = build_net("tiny")
    assert all(m.p == 0.0 for m in plain.modules() if isinstance(m, torch.nn.Dropout))
    plain.train()
    torch.testing.assert_close(plain(x, c), plain(x, c))

    torch.manual_seed(0)
    dropped = build_net("tiny", dropout=0.5)
    assert all(m.p == 0.5 for m in dropped.modules() if isinstance(m, torch.nn.Dropout))
    dropped.train()
    assert (dropped(x, c) - dropped(x, c)).abs().max() > 1e-4
    dropped.eval()
    with torch.no_grad():
        torch.testing.assert_close(dropped(x, c), plain(x, c))


def test_bf16_autocast_forward_is_close_to_fp32(tiny):
    x, c = torch.randn(2, 4, 256, 32), torch.randn(2)
    with torch.no_grad():
        ref = tiny(x, c)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = tiny(x, c)
    assert low.dtype == torch.bfloat16
    rel = (low.float() - ref).norm() / ref.norm()
    assert rel < 0.03, rel


@pytest.mark.parametrize(
    "x, c, match",
    [
        (torch.randn(1, 3, 64, 8), torch.zeros(1), r"\[B, 4, F, T\]"),
        (torch.randn(4, 64, 8), torch.zeros(1), r"\[B, 4, F, T\]"),
        (torch.randn(2, 4, 64, 8), torch.zeros(3), "c_noise"),
        (torch.randint(0, 3, (1, 4, 64, 8)), torch.zeros(1), "floating"),
    ],
)
def test_bad_input_is_named(tiny, x, c, match):
    with pytest.raises(ValueError, match=match):
        tiny(x, c)


def test_cpu_preset_has_its_stated_parameter_count():
    assert count_parameters(build_net("cpu")) == 1_896_220


@pytest.mark.parametrize("freqs, frames", [(256, 95), (255, 33), (7, 1), (1, 2)])
@pytest.mark.parametrize("patch", [2, 3])
def test_a_patched_net_returns_the_input_size(patch, freqs, frames):
    net = build_net("tiny", patch=patch)
    with torch.no_grad():
        out = net(torch.randn(2, 4, freqs, frames), torch.randn(2))
    assert out.shape == (2, 2, freqs, frames)
    assert torch.isfinite(out).all()


def test_a_patched_net_runs_every_layer_below_full_resolution():
    net = build_net("tiny", patch=2)
    seen = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    with torch.no_grad():
        net(torch.randn(1, 4, 64, 31), torch.zeros(1))
    assert max(seen) == (32, 16)                # 31 frames padded to 32, then halved
    assert net.input_conv.in_channels == 16 and net.output_conv.out_channels == 8


@pytest.mark.parametrize("patch", [2, 3])
def test_the_fold_and_unfold_around_the_unet_are_inverse(patch):
    # with a U-Net that hands back its input's first channels, the net returns the state's Re/Im
    # bin for bin and frame for frame: tiles unfold where they were folded from, padding is cropped
    net = build_net("tiny", patch=patch)
    net._unet = lambda x, c_noise: x[:, : 2 * patch**2]
    x = torch.randn(2, 4, 13, 8)
    assert torch.equal(net(x, torch.zeros(2)), x[:, :2])


def test_a_patched_net_passes_gradient_to_every_parameter_and_keeps_batch_items_apart():
    torch.manual_seed(0)
    net = build_net("tiny", patch=2)
    x, c = torch.randn(3, 4, 20, 11), torch.randn(3)
    out = net(x, c)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with torch.no_grad():
        assert torch.allclose(net(x[1:2], c[1:2]), out[1:2], atol=1e-5)
