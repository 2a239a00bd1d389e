"""The `data` config group: defaults from benchmark/configs/data/<name>.yaml, user keys on top.

The YAML files are the single source of the defaults; an unknown key is an error that names it,
so a typo never silently falls back to a default.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "data"
NAMES = ("synthetic", "folder", "vbdmd")


def to_plain(cfg) -> dict:
    """A plain dict from an OmegaConf DictConfig or any mapping (nested values included)."""
    try:
        from omegaconf import DictConfig, OmegaConf
        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:
        pass
    if not isinstance(cfg, Mapping):
        raise TypeError(f"data config must be a mapping, got {type(cfg).__name__}")
    return {k: to_plain(v) if isinstance(v, Mapping) else
            (list(v) if isinstance(v, (list, tuple)) else v) for k, v in cfg.items()}


def defaults(name: str) -> dict:
    if name not in NAMES:
        raise ValueError(f"unknown data={name!r}; choose one of {', '.join(NAMES)}")
    from omegaconf import OmegaConf
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"{name}.yaml"))


def _merge(base: dict, override: dict, where: str) -> dict:
    out = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"unknown setting {where}.{key}; known: {', '.join(sorted(base))}")
        if isinstance(base[key], dict) and isinstance(value, dict):
            out[key] = _merge(base[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def resolve(data_cfg) -> dict:
    """Every setting of the chosen data source, as a plain dict."""
    cfg = to_plain(data_cfg)
    name = cfg.get("name", "synthetic")
    return _merge(defaults(name), {**cfg, "name": name}, "data")
