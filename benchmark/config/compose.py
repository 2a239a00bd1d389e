"""Composition: YAML groups composed with OmegaConf, scale presets, Hydra-style `key=value` overrides.

    benchmark/configs/defaults.yaml       the root; `data: synthetic` names a group's default
    benchmark/configs/<group>/<name>.yaml  one file per choice: data, net, trainer, sampler, sde
    benchmark/configs/scale/<name>.yaml    a list of overrides applied before all others:
                                           `scale=paper` is the paper's net, trainer, front end, sampler

On the command line `data=folder` picks a group file and `data.root=DIR` sets one key (the Hydra
grammar, implemented thinly: hydra's Optuna sweeper pins optuna<3, docs/anchors.md B3). Unknown keys and
values fail before any work, naming the key and the allowed values.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .build import validate
from .schema import ConfigError

CONFIG_DIR = Path(__file__).parent.parent / "configs"
GROUPS = ("data", "net", "trainer", "sampler", "sde")


def group_choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def load_group(group: str, choice: str) -> DictConfig:
    path = CONFIG_DIR / group / f"{choice}.yaml"
    if not path.is_file():
        raise ConfigError(f"{group}={choice!r} is not one of {group_choices(group)}")
    return OmegaConf.load(path)


def scale_overrides(name: str) -> list[str]:
    path = CONFIG_DIR / "scale" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"scale={name!r} is not one of {group_choices('scale')}")
    return [str(item) for item in OmegaConf.load(path).overrides]


def split_overrides(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """Group choices (`sde=ouvp`) apart from key overrides (`sde.stiffness=0`)."""
    groups, keys = {}, []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"argument {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        if key in GROUPS or key == "scale":
            groups[key] = value
        else:
            keys.append(item)
    return groups, keys


def compose(overrides: list[str] = (), base: DictConfig | dict | None = None) -> DictConfig:
    """defaults.yaml (or `base`), then group choices, then key overrides; struct mode catches typos."""
    cfg = OmegaConf.load(CONFIG_DIR / "defaults.yaml") if base is None else OmegaConf.create(base)
    groups, keys = split_overrides(list(overrides))
    if "scale" in groups:                     # a preset of overrides, placed before the caller's
        scale = groups.pop("scale")
        pre_groups, pre_keys = split_overrides(scale_overrides(scale))
        groups, keys = {**pre_groups, **groups}, pre_keys + keys
        cfg.scale = scale
    for group in GROUPS:
        choice = groups.get(group, cfg.get(group))
        if isinstance(choice, str):
            cfg[group] = load_group(group, choice)
    OmegaConf.set_struct(cfg, True)
    for item in keys:
        try:
            cfg.merge_with_dotlist([item])
        except OmegaConfBaseException as e:
            key = item.split("=", 1)[0]
            raise ConfigError(f"{key}: not a setting of this configuration ({type(e).__name__}: "
                              f"{str(e).splitlines()[0]})") from None
    validate(cfg)
    return cfg


# Command lines of the front doors that are not studies (enhance, evaluate).

def parse_cli(argv: list[str], required: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
    """Split `name=value` arguments of the command itself from config overrides."""
    own, overrides = {}, []
    for item in argv:
        if "=" not in item:
            raise ConfigError(f"argument {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        if key in required or key in ("chunk_seconds", "jobs"):
            own[key] = value
        else:
            overrides.append(item)
    missing = [k for k in required if k not in own]
    if missing:
        raise ConfigError(f"missing argument(s): {', '.join(k + '=…' for k in missing)}")
    return own, overrides
