"""The model folder, one owner: where trained models live, when one is done, and loading one back.

A model folder is `<models root>/<training hash>/` holding
    config.yaml       the resolved configuration it was trained with (CONFIG)
    last.pt, best.pt  fit()'s checkpoints, and train_log.jsonl (fit.LAST, fit.BEST, fit.LOG)
    model.pt          the exported EMA weights users load (EXPORT)
    weights.safetensors  instead of the .pt files, in a folder made from a shipped model (shipped.py):
                      last.pt's EMA weights without pickle (WEIGHTS)
    done.json         written last: the training finished and was exported (DONE)
    .lock             the claim of the worker training it (driver/claims.py)
Folders are keyed by what training depends on (config.training_hash), so every study that needs the
same model finds it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from .audio.stft import Frontend
from .config import ConfigError, compose, flat_keys, fresh_model, trainer_settings, training_config, training_hash
from .data import load_split
from .durable import read_json, write_json
from .fit import LAST, VAL_LOG, CheckpointError, fit, load_checkpoint
from .preflight import readable_file

CONFIG, EXPORT, DONE, WEIGHTS = "config.yaml", "model.pt", "done.json", "weights.safetensors"
REFERENCE = "reference:"        # model=reference:<name>: a model shipped in the package (shipped.py)


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


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return (text[:200] + " …" if len(text) > 200 else text) or type(e).__name__


def _folder_from_ref(ref: str) -> tuple[Path, str]:
    """A checkpoint file, a model folder, or an MLflow run id whose params name the folder."""
    path = Path(ref)
    if path.is_file() and path.suffix == ".pt":
        return path.parent, path.stem
    if path.is_file() and path.name == WEIGHTS:
        return path.parent, "last"
    if path.is_dir():
        if not (path / CONFIG).is_file():
            raise ConfigError(f"{path}: not a model folder (no config.yaml)")
        return path, "last"
    if len(ref) == 32 and all(c in "0123456789abcdef" for c in ref):
        return _folder_from_mlflow(ref), "last"
    raise ConfigError(f"model={ref!r}: not a checkpoint file, a model folder, an MLflow run id or "
                      f"{REFERENCE}<name> (a shipped model)")


def _local_store(uri: str) -> Path | None:
    """The file or folder a local MLflow tracking URI names; None for a server."""
    for scheme in ("sqlite:///", "file://"):
        if uri.startswith(scheme):
            return Path(uri[len(scheme):])
    return None if "://" in uri else Path(uri)


def _folder_from_mlflow(run_id: str, tracking_uri: str | None = None) -> Path:
    """The model folder a training run logged; the store is MLFLOW_TRACKING_URI, else results/mlflow.db."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('results/mlflow.db').resolve()}"
    store = _local_store(uri)
    if store is not None and not store.exists():
        # mlflow would create an empty store there just to find the run missing from it
        raise ConfigError(f"model={run_id}: no MLflow store at {store} to look the run up in (set "
                          "MLFLOW_TRACKING_URI, or give the model folder)")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        run = mlflow.get_run(run_id)
    except Exception as e:  # mlflow raises its own exception types for unknown ids or stores
        raise ConfigError(f"model={run_id}: no such MLflow run in {mlflow.get_tracking_uri()} "
                          f"({_first_line(e)})") from None
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


# The top-level groups training depends on (config.training_config): a config.yaml the trainer wrote
# has every one, so a file without them was cut short or is not a model's configuration.
TRAINED_GROUPS = ("seed", "data", "net", "trainer", "frontend", "model")


def read_config(folder: Path):
    """The configuration a model folder was trained with, as composed (validated); one line naming
    config.yaml and the problem when it is missing, not YAML, partial or invalid."""
    path = readable_file(Path(folder) / CONFIG, "model configuration")
    try:
        base = OmegaConf.load(path)
    except Exception as e:  # yaml's parser errors and OmegaConf's own, several types each
        raise ConfigError(f"{path}: not a readable YAML configuration ({_first_line(e)})") from None
    if not isinstance(base, DictConfig) or len(base) == 0:
        raise ConfigError(f"{path}: empty or not a mapping of settings (training writes its whole configuration here)")
    missing = [k for k in TRAINED_GROUPS if k not in base]
    if missing:
        raise ConfigError(f"{path}: partial configuration, no {', '.join(missing)} (training writes every group)")
    try:
        return compose(base=base)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _check_record(folder: Path, cfg) -> None:
    """A finished model's done.json keeps the training hash it was trained as: a config.yaml edited
    since (frontend.n_fft, say, which changes no weight's shape) no longer hashes to it."""
    recorded = (finished(folder) or {}).get("training_hash")
    if recorded and training_hash(cfg) != recorded:
        raise ConfigError(f"{folder / CONFIG}: edited after training: its settings hash to {training_hash(cfg)}, "
                          f"the model was trained as {recorded} ({folder / DONE}); restore it or train it anew")


# What the weights were shaped and trained for: overridden at inference they would run under settings
# they never saw, silently (sampler, SDE and preconditioning overrides are inference experiments).
SHAPED_BY = ("frontend", "net", "model")


def _check_overrides(folder: Path, trained, cfg) -> None:
    before = flat_keys({g: training_config(trained)[g] for g in SHAPED_BY})
    for key, value in flat_keys({g: training_config(cfg)[g] for g in SHAPED_BY}).items():
        if before.get(key, value) != value:
            raise ConfigError(f"{key}={value}: the model in {folder} was trained with {key}={before[key]} "
                              f"(its {CONFIG}); a trained model's settings cannot be overridden")


def _ema_tensors(model) -> list[tuple[str, torch.Tensor]]:
    """What fit.EMA keeps, in its order (parameters, then floating-point buffers), with names."""
    return list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if b.dtype.is_floating_point]


def _saved_tensors(state, path: Path) -> tuple[dict | list, bool]:
    """(the weights, whether they are an EMA list) of a checkpoint, or one line on why it has none."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint of this suite (a {type(state).__name__}, "
                              "not a dict of weights)")
    if "ema" in state:
        shadow = state["ema"].get("shadow") if isinstance(state["ema"], dict) else None
        if not isinstance(shadow, (list, tuple)):
            raise CheckpointError(f"{path}: not a checkpoint of this suite (its 'ema' holds no list of tensors)")
        return shadow, True
    if "state_dict" in state:                      # model.pt: the exported EMA weights
        if not isinstance(state["state_dict"], dict):
            raise CheckpointError(f"{path}: not a checkpoint of this suite (its 'state_dict' is not a dict)")
        return state["state_dict"], False
    raise CheckpointError(f"{path}: not a checkpoint of this suite (no EMA weights in it)")


def _weights_path(folder: Path, which: str) -> Path:
    """folder/<which>.pt, or the folder's weights.safetensors where it stands for last.pt."""
    path, shipped = folder / f"{which}.pt", folder / WEIGHTS
    if path.is_file() or not shipped.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such checkpoint (train the model first)")
        return path
    if which != "last":
        # a shipped model keeps the EMA weights enhance uses by default (last.pt's), nothing else
        raise FileNotFoundError(f"{path}: no such checkpoint: {folder} holds a shipped model, whose "
                                f"{WEIGHTS} is last.pt's EMA weights only (use checkpoint last)")
    return shipped


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safetensors_header(data: bytes, name) -> dict:
    """The metadata (str -> str) in a safetensors file's bytes: an 8-byte little-endian length, then
    that much JSON; {} when it has none. One line naming the file when there is no such header."""
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    try:
        header = json.loads(data[8:8 + size]) if 0 < size <= len(data) - 8 else None
    except ValueError as e:
        raise CheckpointError(f"{name}: unreadable safetensors header ({_first_line(e)})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: not a safetensors file (no complete header: truncated or another format)")
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def read_safetensors(path: Path, record: dict | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """(the tensors, the metadata) of a safetensors file: raw tensor data and a JSON header, no
    pickle, so no code can run from it (what torch.load's weights_only promises, by construction).
    `record` (the folder's done.json) names the file's sha256 and training hash when it was made from
    a shipped model: a file altered or swapped since is refused, one line naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    record = record or {}
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: unreadable ({_first_line(e)})") from None
    if record.get("weights_sha256") and sha256_of(data) != record["weights_sha256"]:
        raise CheckpointError(f"{path}: sha256 {sha256_of(data)[:12]}… is not the {record['weights_sha256'][:12]}… "
                              f"its {DONE} recorded: the file was altered or damaged since it was written")
    meta = safetensors_header(data, path)
    if record.get("training_hash") and meta.get("training_hash") not in (None, record["training_hash"]):
        raise CheckpointError(f"{path}: its header says training hash {meta['training_hash']}, its {DONE} "
                              f"{record['training_hash']}: weights of another model")
    try:
        return load(data), meta
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable safetensors file, truncated or damaged ({_first_line(e)})") from None


def load_weights(model, folder: Path, which: str = "last", device="cpu") -> dict:
    """fit.load_weights checked first: every tensor of `model` has one of the same shape in the
    checkpoint and there are none besides, else one line naming the file and the first tensor that
    does not fit. (Copying an EMA list tensor by tensor would broadcast a wrong shape or leave a
    tensor untrained, silently.) A folder made from a shipped model has weights.safetensors, read
    without pickle, in place of last.pt."""
    path = _weights_path(Path(folder), which)
    if path.suffix == ".safetensors":
        saved, meta = read_safetensors(path, finished(Path(folder)))
        is_ema, state = False, {"step": int(meta["steps"]) if str(meta.get("steps", "")).isdigit() else None}
    else:
        state = load_checkpoint(path, device)
        saved, is_ema = _saved_tensors(state, path)
    want = _ema_tensors(model) if is_ema else list(model.state_dict().items())
    got = dict(zip((n for n, _ in want), saved)) if is_ema else saved
    names = {n for n, _ in want}
    unknown = [f"#{i}" for i in range(len(want), len(saved))] if is_ema else [k for k in saved if k not in names]
    besides = f", and {len(unknown)} tensor(s) the model has not, first {unknown[0]}" if unknown else ""
    fits = f"does not fit the model {Path(folder) / CONFIG} describes"
    for name, tensor in want:
        if name not in got:
            missing = sum(n not in got for n, _ in want)
            raise CheckpointError(f"{path}: {fits}: it holds no {name} ({missing} of the model's {len(want)} "
                                  f"tensors missing{besides})")
        if not torch.is_tensor(got[name]) or got[name].shape != tensor.shape:
            shape = tuple(got[name].shape) if torch.is_tensor(got[name]) else type(got[name]).__name__
            raise CheckpointError(f"{path}: {fits}: {name} is {shape} there, {tuple(tensor.shape)} in the "
                                  f"model (was {CONFIG} edited after training?)")
    if unknown:
        raise CheckpointError(f"{path}: {fits}: it holds {len(unknown)} tensor(s) the model has not, "
                              f"first {unknown[0]}")
    with torch.no_grad():
        if is_ema:
            for name, tensor in want:
                tensor.copy_(got[name])
            return {"step": state.get("step"), "metrics": state.get("metrics", state.get("best"))}
        model.load_state_dict(saved)
    return {"step": state.get("step"), "metrics": None}


def load_trained(cfg, folder: Path, which: str = "last") -> Loaded:
    """The model of `cfg` with the EMA weights of folder/<which>.pt, in eval mode; refused with one
    line when the weights do not fit the model `cfg` describes."""
    model, frontend, device = fresh_model(cfg)
    model.to(device)
    info = load_weights(model, folder, which, device=device)
    model.eval()
    return Loaded(model, frontend, cfg, device, folder, info)


def load_for_inference(ref: str, overrides: list[str] = ()) -> Loaded:
    """A model by checkpoint file, folder or MLflow run id, its config.yaml checked against the
    training record and the weights before anything runs. `reference:<name>` (a shipped model) is
    shipped.load's, which builds on this module."""
    if ref.startswith(REFERENCE):
        raise ValueError(f"model={ref}: a shipped model: load it with shipped.load (enhance does)")
    folder, which = _folder_from_ref(ref)
    base = read_config(folder)
    _check_record(folder, base)
    cfg = compose(list(overrides), base=base)
    _check_overrides(folder, base, cfg)
    return load_trained(cfg, folder, which)
