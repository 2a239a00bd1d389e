"""Configuration: YAML groups composed with OmegaConf, Hydra-style `key=value` overrides, cell hashes.

    benchmark/configs/defaults.yaml       the root; `data: synthetic` names a group's default
    benchmark/configs/<group>/<name>.yaml  one file per choice: data, net, trainer, sampler, sde
    benchmark/configs/scale/<name>.yaml    a list of overrides applied before all others:
                                           `scale=paper` is the paper's net, trainer, front end, sampler

On the command line `data=folder` picks a group file and `data.root=DIR` sets one key (the Hydra
grammar, implemented thinly: hydra's Optuna sweeper pins optuna<3, anchors.md B3). Unknown keys and
values fail before any work, naming the key and the allowed values.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_DIR = Path(__file__).parent / "configs"
GROUPS = ("data", "net", "trainer", "sampler", "sde")
GAMMA_FREE_SDES = ("ouve", "ouvp", "oucosine")      # σ(t) does not depend on γ (design-space.md §1)


class ConfigError(ValueError):
    """A configuration the suite cannot run; the message names the key."""


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


def to_dict(cfg):
    """Plain dicts and lists from OmegaConf nodes (anything else is returned as it is)."""
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg


def validate(cfg: DictConfig) -> None:
    """Check every number's type and range (ranges.py), then build every registry object once
    (cheap), so a bad name or setting fails before any work."""
    from .audio.metrics import metric_names
    from .diffusion.preconditioning import Preconditioning
    from .models import build_sde_from, noise_law_from
    from .nets import NETS
    from .ranges import check as check_ranges
    from .train import TrainerSettings

    # first: the builders below take `steps=-1` or `lr='abc'`, which then crash mid-run or run wrong
    check_ranges(cfg)
    try:
        TrainerSettings.from_config(to_dict(cfg.trainer))
        if cfg.model.kind not in ("diffusion", "predictive"):
            raise ConfigError(f"model.kind={cfg.model.kind!r} is not one of ['diffusion', 'predictive']")
        if cfg.net.name not in NETS:
            raise ConfigError(f"net.name={cfg.net.name!r} is not one of {sorted(NETS)}")
        Preconditioning.from_config(**to_dict(cfg.preconditioning))
        if cfg.eval.get("precision") not in (None, "auto", "fp32", "bf16", "fp16"):
            raise ConfigError(f"eval.precision={cfg.eval.precision!r} is not one of [null, auto, fp32, bf16, fp16]")
        try:     # names only: a saved model's config that names DNSMOS loads where it is missing
            metric_names(list(cfg.eval.metrics))
        except ValueError as e:
            raise ConfigError(f"eval.metrics: {e}") from None
        if cfg.model.kind == "diffusion":
            sde = build_sde_from(cfg)
            noise_law_from(cfg, sde)
            sampler_from_config(cfg, sde=sde)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError(str(e).strip("'\"")) from None


def sampler_from_config(cfg, model=None, sde=None):
    from .diffusion.samplers import build_sampler

    settings = to_dict(cfg.sampler)
    name = settings.pop("name")
    if "start" in settings:                    # the matched start adds back the data's own std
        settings["sigma_data"] = float(cfg.preconditioning.sigma_data)
    if model is not None and getattr(model, "kind", "") == "predictive":
        return None
    return build_sampler(name, sde if sde is not None else getattr(model, "sde", None), **settings)


# ---------------------------------------------------------------------------------------------
# Identity: a cell is (training config) × (inference config); each part hashes what it depends on.

def stable_hash(obj, n: int = 8) -> str:
    """sha256 of the key-sorted JSON, first n hex digits (brever's `Config.get_hash`)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


_NOT_TRAINING = {"trainer": ("log_every", "checkpoint_every", "threads", "val_every", "val_utterances"),
                 "data": ("cache_dir", "workers")}


def training_config(cfg, canonical: bool = True) -> dict:
    """Exactly what the trained weights depend on: a cell that differs elsewhere reuses the model.

    With all-`edm` preconditioning, `ouve`, `ouvp` and `oucosine` train the same objective for every
    γ (σ(t) and every c_* are γ-free), so γ is dropped there: those cells share one model.
    `canonical` names the SDE by the process it is (`sdes.same_process`); cell_hash keeps the name
    as given.
    """
    d = to_dict(cfg)
    out = {k: d[k] for k in ("seed", "data", "net", "trainer", "frontend", "model")}
    if d["data"].get("name") == "synthetic" and "auto" in d["data"].values():
        # `auto` is decided by what this machine has installed: hash the decision, so a machine
        # without the recordings never shares a model id with one that trained on them
        from .data.synthetic import effective
        out["data"] = effective(d["data"])
    if d["data"].get("name") == "synthetic":
        from .data.synthetic import LATER_NEUTRAL
        # a setting added after models were trained leaves their ids alone while it is off
        out["data"] = {k: v for k, v in out["data"].items()
                       if not (k in LATER_NEUTRAL and v == LATER_NEUTRAL[k])}
    for group, keys in _NOT_TRAINING.items():
        out[group] = {k: v for k, v in out[group].items() if k not in keys}
    if d["model"]["kind"] == "diffusion":
        out["sde"] = dict(d["sde"], name=_sde_name(d["sde"]) if canonical else d["sde"]["name"])
        out["preconditioning"] = d["preconditioning"]
        out["loss"] = d["loss"]
        if out["sde"]["name"] in GAMMA_FREE_SDES and _all_edm(cfg):
            out["sde"].pop("stiffness", None)
    else:
        out["preconditioning"] = {"sigma_data": d["preconditioning"]["sigma_data"]}
    return out


def gamma_free(cfg) -> bool:
    return _sde_name(to_dict(cfg.sde)) in GAMMA_FREE_SDES and _all_edm(cfg)


def _sde_name(sde: dict) -> str:
    from .diffusion.sdes import same_process

    return same_process(sde["name"], sde.get("stiffness"))


def _all_edm(cfg) -> bool:
    from .diffusion.preconditioning import TERMS, Preconditioning

    p = Preconditioning.from_config(**to_dict(cfg.preconditioning))
    return all(getattr(p, t) == "edm" for t in TERMS)


_ADDED_SAMPLER_DEFAULTS = {("start", "plain")}


def inference_config(cfg) -> dict:
    d = to_dict(cfg)
    out = {"eval": d["eval"]}
    if d["model"]["kind"] == "diffusion":
        # A sampler setting added after results existed enters a cell's id only when set away from
        # the behaviour those results had, so their cells keep their ids (issue 19's `start`).
        out["sampler"] = {k: v for k, v in d["sampler"].items() if (k, v) not in _ADDED_SAMPLER_DEFAULTS}
        out["sde"] = d["sde"]                    # γ acts at sampling time even where training ignores it
    return out


def training_hash(cfg) -> str:
    return stable_hash(training_config(cfg))


def cell_hash(cfg) -> str:
    # A cell is what the user asked for: the SDE as named, not the process training reduces it to
    # (so richter-ouve at γ = 0 keeps its id when it starts sharing ouve's model). The inference
    # precision is left out, as the device is: numerics, not a different experiment.
    infer = inference_config(cfg)
    infer["eval"] = {k: v for k, v in infer["eval"].items() if k != "precision"}
    return stable_hash({"train": training_config(cfg, canonical=False), "infer": infer})


# ---------------------------------------------------------------------------------------------
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
