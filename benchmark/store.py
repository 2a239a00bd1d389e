"""The model folder, one owner: where trained models live, when one is done, and loading one back.

A model folder is `<models root>/<training hash>/` holding
    config.yaml       the resolved configuration it was trained with (CONFIG)
    last.pt, best.pt  fit()'s checkpoints, and train_log.jsonl (fit.LAST, fit.BEST, fit.LOG)
    model.pt          the exported EMA weights users load (EXPORT)
    done.json         written last: the training finished and was exported (DONE)
    .lock             the claim of the worker training it (driver/claims.py)
Folders are keyed by what training depends on (config.training_hash), so every study that needs the
same model finds it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .audio.stft import Frontend
from .config import ConfigError, compose, fresh_model, trainer_settings
from .data import load_split
from .durable import read_json, write_json
from .fit import LAST, VAL_LOG, CheckpointError, fit, load_checkpoint, load_weights

CONFIG, EXPORT, DONE = "config.yaml", "model.pt", "done.json"


def folder_of(models_root: Path, training_hash: str) -> Path:
    return Path(models_root) / training_hash


def finished(folder: Path) -> dict | None:
    """done.json's record, or None: absent, or unreadable (a kill in an older, non-atomic write)."""
    info = read_json(folder / DONE)
    return info if isinstance(info, dict) else None


def model_done(folder: Path) -> bool:
    return finished(folder) is not None


def mark_done(folder: Path, info: dict) -> None:
    write_json(folder / DONE, info)


def started(folder: Path) -> bool:
    """A training has begun here (a checkpoint exists), finished or not."""
    return (folder / LAST).exists()


def steps_trained(folder: Path) -> int:
    """The step a killed training resumes from: its last.pt's (0 when absent or unreadable)."""
    if not (folder / LAST).is_file():
        return 0
    try:
        return int(load_checkpoint(folder / LAST).get("step", 0))
    except CheckpointError:
        return 0


# Converged: the validation metric gained less than this over the last quarter of training.
CONVERGENCE_GAIN = 0.02


def validation_curve(folder: Path) -> list[dict]:
    """fit()'s validations in step order, one per step (a resumed run's repeat replaces the first)."""
    path = folder / VAL_LOG
    if not path.is_file():
        return []
    by_step = {}
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:                       # a line cut by a kill
            continue
        if isinstance(entry, dict) and "step" in entry:
            by_step[int(entry["step"])] = entry
    return [by_step[s] for s in sorted(by_step)]


def convergence(folder: Path, metric: str = "pesq_wb") -> dict | None:
    """The model's gain in validation `metric` over the last quarter of its training: the last
    validation against the latest one at or before 3/4 of the steps. None without two such points."""
    curve = [e for e in validation_curve(folder) if isinstance(e.get(metric), (int, float))]
    if len(curve) < 2:
        return None
    last = curve[-1]
    earlier = [e for e in curve[:-1] if e["step"] <= 0.75 * last["step"]]
    if not earlier:
        return None
    start = earlier[-1]
    gain = float(last[metric]) - float(start[metric])
    return {"metric": metric, "steps": int(last["step"]), "from_step": int(start["step"]),
            "from_value": float(start[metric]), "to_value": float(last[metric]), "gain": gain,
            "limit": CONVERGENCE_GAIN, "converged": bool(gain < CONVERGENCE_GAIN)}


def export_weights(model, folder: Path) -> Path:
    """EMA weights only (the checkpoint users load), much smaller than last.pt with Adam's moments."""
    info = load_weights(model, folder, "last")
    tmp = folder / (EXPORT + ".tmp")
    torch.save({"state_dict": model.state_dict(), "step": info["step"]}, tmp)
    tmp.replace(folder / EXPORT)
    return folder / EXPORT


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
        if not (path / CONFIG).is_file():
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


def train_model(cfg, folder: Path, *, make_validate=None, log=None, progress: bool = True):
    """Train `cfg` into `folder` (config.yaml, last.pt, best.pt); resumes from last.pt if present.

    make_validate(model, frontend, device) -> fit()'s validate callback, or None.
    """
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, folder / CONFIG)
    model, frontend, device = fresh_model(cfg)
    validate = make_validate(model, frontend, device) if make_validate else None
    result = fit(model, frontend, load_split(cfg.data, "train"), trainer_settings(cfg),
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
    cfg = compose(list(overrides), base=OmegaConf.load(folder / CONFIG))
    return load_trained(cfg, folder, which)
