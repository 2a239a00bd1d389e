import pytest
from omegaconf import OmegaConf

from benchmark.data.settings import defaults, resolve


def test_defaults_come_from_the_yaml_and_user_keys_win():
    cfg = resolve({"name": "synthetic", "seed": 3, "sizes": {"train": 10}})
    assert cfg["seed"] == 3 and cfg["sizes"]["train"] == 10
    assert cfg["sizes"]["valid"] == defaults("synthetic")["sizes"]["valid"]
    assert cfg["snr_db"] == [-5.0, 20.0]


def test_omegaconf_and_default_name():
    cfg = resolve(OmegaConf.create({"name": "folder", "root": "/x"}))
    assert cfg == {"name": "folder", "root": "/x", "resampler": "poly"}
    assert resolve({})["name"] == "synthetic"


def test_unknown_keys_and_sources_are_named():
    with pytest.raises(ValueError, match=r"unknown setting data.sizes.tran"):
        resolve({"name": "synthetic", "sizes": {"tran": 5}})
    with pytest.raises(ValueError, match="unknown data='librispeech'"):
        resolve({"name": "librispeech"})


def test_every_group_has_a_yaml():
    assert defaults("vbdmd")["valid_speakers"] == ["p226", "p287"]
    assert defaults("folder")["root"] is None
