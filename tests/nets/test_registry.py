"""The registry in benchmark/nets/__init__.py and the `net` config group that mirrors it."""
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import benchmark
from benchmark.nets import NETS, NCSNppSettings, build_net, count_parameters, net_settings

CONFIG_DIR = Path(benchmark.__file__).parent / "configs" / "net"


def test_presets_exist():
    assert {"ncsnpp_m", "ncsnpp", "small", "cpu", "tiny"} <= set(NETS)


def test_overrides_apply_and_leave_the_preset_alone():
    s = net_settings("ncsnpp_m", dropout=0.1, channel_mult=[1, 2])
    assert s.dropout == 0.1 and s.channel_mult == (1, 2)
    assert NETS["ncsnpp_m"].dropout == 0.0


def test_unknown_name_and_setting_are_named():
    with pytest.raises(KeyError, match="nope"):
        build_net("nope")
    with pytest.raises(TypeError, match="widht"):
        build_net("tiny", widht=3)


@pytest.mark.parametrize(
    "override, match",
    [
        (dict(encoder_type="residual"), "encoder_type"),
        (dict(channel_mult=[]), "channel_mult"),
        (dict(dropout=1.5), "dropout"),
        (dict(base_channels=0), "base_channels"),
        (dict(patch=0), "patch"),
    ],
)
def test_bad_settings_are_named(override, match):
    with pytest.raises(ValueError, match=match):
        build_net("tiny", **override)


def test_same_seed_gives_the_same_network():
    torch.manual_seed(1)
    a = build_net("tiny")
    torch.manual_seed(1)
    b = build_net("tiny")
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), n


@pytest.mark.parametrize("name", sorted(NETS))
def test_config_file_lists_every_setting_of_its_preset(name):
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"{name}.yaml"))
    assert cfg.pop("name") == name
    assert set(cfg) == set(NCSNppSettings.names())
    assert NCSNppSettings(**cfg) == NETS[name]


def test_config_file_builds_the_network():
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "tiny.yaml"))
    assert count_parameters(build_net(**cfg)) == count_parameters(build_net("tiny"))


def test_every_config_file_is_a_preset():
    assert {p.stem for p in CONFIG_DIR.glob("*.yaml")} == set(NETS)
