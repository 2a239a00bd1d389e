"""Configuration -> objects: every factory that turns settings into a model, SDE, sampler or front end,
and `validate`, which builds each once so that a bad name or setting fails before any work."""
from __future__ import annotations

import dataclasses

import torch
from omegaconf import DictConfig

from ..audio.metrics import metric_names
from ..audio.stft import Frontend
from ..diffusion.losses import NOISE_LAWS, build_noise_law
from ..diffusion.preconditioning import TERMS, Preconditioning
from ..diffusion.samplers import build_sampler
from ..diffusion.sdes import build_sde
from ..fit import TrainerSettings
from ..models import DiffusionModel, PredictiveModel
from ..nets import NETS, build_net
from ..runtime import select_device, set_threads
from .schema import ConfigError, check, to_dict


def _plain(cfg) -> dict:
    return {} if cfg is None else to_dict(cfg)


def build_sde_from(cfg) -> object:
    p = _plain(cfg["sde"])
    return build_sde(p.pop("name"), **p)


def noise_law_from(cfg, sde):
    """The training noise-level law; the `loss` group holds the settings of every law, each takes its own."""
    settings = _plain(cfg["loss"])
    name = settings.pop("noise_law")
    if name in NOISE_LAWS:
        own = {f.name for f in dataclasses.fields(NOISE_LAWS[name])}
        settings = {k: v for k, v in settings.items() if k in own}
    return build_noise_law(name, sde, **settings)


def preconditioning_from(cfg) -> Preconditioning:
    return Preconditioning.from_config(**_plain(cfg["preconditioning"]))


def all_edm(cfg) -> bool:
    p = preconditioning_from(cfg)
    return all(getattr(p, t) == "edm" for t in TERMS)


def build_model(cfg) -> torch.nn.Module:
    """cfg needs `model.kind`, `net`, and for diffusion `sde`, `preconditioning` and `loss`."""
    kind = cfg["model"]["kind"]
    net_cfg = _plain(cfg["net"])
    net = build_net(net_cfg.pop("name"), **net_cfg)
    precond = preconditioning_from(cfg)
    if kind == "predictive":
        return PredictiveModel(net, precond.sigma_data)
    if kind != "diffusion":
        raise ValueError(f"model.kind={kind!r} is not one of ['diffusion', 'predictive']")
    sde = build_sde_from(cfg)
    return DiffusionModel(net, sde, precond, noise_law_from(cfg, sde),
                          input_perturbation=float(cfg.loss.get("input_perturbation", 0.0)))


def frontend_from(cfg) -> Frontend:
    return Frontend(**to_dict(cfg.frontend))


def fresh_model(cfg):
    """Device, threads and seed as `cfg` says, then a new model and its front end."""
    device = select_device(cfg.device)
    set_threads(cfg.trainer.threads)
    torch.manual_seed(int(cfg.seed))
    return build_model(cfg), frontend_from(cfg), device


def trainer_settings(cfg) -> TrainerSettings:
    return TrainerSettings.from_config(to_dict(cfg.trainer))


def sampler_from_config(cfg, model=None, sde=None):
    settings = to_dict(cfg.sampler)
    name = settings.pop("name")
    if "start" in settings:                    # the matched start adds back the data's own std
        settings["sigma_data"] = float(cfg.preconditioning.sigma_data)
    if model is not None and getattr(model, "kind", "") == "predictive":
        return None
    return build_sampler(name, sde if sde is not None else getattr(model, "sde", None), **settings)


def validate(cfg: DictConfig) -> None:
    """Check every number's type and range (config/schema.py), then build every registry object once
    (cheap), so a bad name or setting fails before any work."""
    # first: the builders below take `steps=-1` or `lr='abc'`, which then crash mid-run or run wrong
    check(cfg)
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
