"""Where trained models live, and loading one back for inference.

A model folder is `<models root>/<training hash>/` holding `config.yaml` (the resolved configuration
it was trained with), `last.pt`, `best.pt` and `train_log.jsonl`. Folders are keyed by what training
depends on (config.training_hash), so every study that needs the same model finds it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .audio.stft import Frontend
from .config import ConfigError, compose, to_dict
from .models import build_model
from .data import load_split
from .runtime import select_device, set_threads
from .train import TrainerSettings, fit, load_weights


def frontend_from(cfg) -> Frontend:
    return Frontend(**to_dict(cfg.frontend))


@dataclass
class Loaded:
    model: torch.nn.Module
    frontend: Frontend
    config: object
    device: torch.device
    folder: Path
    info: dict


def _folder_from_ref(ref: str) -> tuple[Path, str]:
    """A checkpoint file, a model folder, or an MLflow run id whose params name the folder."""
    path = Path(ref)
    if path.is_file() and path.suffix == ".pt":
        return path.parent, path.stem
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"{path}: not a model folder (no config.yaml)")
        return path, "last"
    if len(ref) == 32 and all(c in "0123456789abcdef" for c in ref):
        return _folder_from_mlflow(ref), "last"
    raise ConfigError(f"model={ref!r}: not a checkpoint file, a model folder or an MLflow run id")


def _folder_from_mlflow(run_id: str, tracking_uri: str | None = None) -> Path:
    """The model folder a training run logged; the store is MLFLOW_TRACKING_URI, else results/mlflow.db."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('results/mlflow.db').resolve()}"
    mlflow.set_tracking_uri(uri)
    try:
        run = mlflow.get_run(run_id)
    except Exception as e:  # mlflow raises its own exception types for unknown ids or stores
        raise ConfigError(f"model={run_id}: no such MLflow run in {mlflow.get_tracking_uri()} ({e})") from None
    folder = run.data.params.get("model_dir") or run.data.tags.get("model_dir")
    if not folder:
        raise ConfigError(f"model={run_id}: that MLflow run names no model_dir (is it a training run?)")
    return Path(folder)


def fresh_model(cfg):
    """Device, threads and seed as `cfg` says, then a new model and its front end."""
    device = select_device(cfg.device)
    set_threads(cfg.trainer.threads)
    torch.manual_seed(int(cfg.seed))
    return build_model(cfg), frontend_from(cfg), device


def train_model(cfg, folder: Path, *, make_validate=None, log=None, progress: bool = True):
    """Train `cfg` into `folder` (config.yaml, last.pt, best.pt); resumes from last.pt if present.

    make_validate(model, frontend, device) -> fit()'s validate callback, or None.
    """
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, folder / "config.yaml")
    model, frontend, device = fresh_model(cfg)
    validate = make_validate(model, frontend, device) if make_validate else None
    result = fit(model, frontend, load_split(cfg.data, "train"), TrainerSettings.from_config(to_dict(cfg.trainer)),
                 folder, seed=int(cfg.seed), device=device, validate=validate, log=log, progress=progress)
    return model, result


def load_trained(cfg, folder: Path, which: str = "last") -> Loaded:
    """The model of `cfg` with the EMA weights of folder/<which>.pt, in eval mode."""
    model, frontend, device = fresh_model(cfg)
    model.to(device)
    info = load_weights(model, folder, which, device=device)
    model.eval()
    return Loaded(model, frontend, cfg, device, folder, info)


def load_for_inference(ref: str, overrides: list[str] = ()) -> Loaded:
    folder, which = _folder_from_ref(ref)
    cfg = compose(list(overrides), base=OmegaConf.load(folder / "config.yaml"))
    return load_trained(cfg, folder, which)
