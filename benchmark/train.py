"""Train one configuration into a folder: `python -m benchmark.train out=DIR [key=value …]`.

The same command again resumes from DIR/last.pt (after a crash or kill) and stops at the same step.
A folder that holds a model trained with other settings is refused: choose another out= or delete it.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .audio.io import AudioError
from .config import (
    ConfigError,
    build_model,
    compose,
    flat_keys,
    parse_cli,
    trainer_settings,
    training_config,
    training_hash,
)
from .data import load_split
from .fit import LAST, CheckpointError, load_checkpoint
from .preflight import PreflightError, writable_dir
from .runtime import resolve_precision, select_device
from .store import CONFIG, mark_done, train_model

_SHOWN = 4          # differing settings a refusal lists; more are counted


def _differences(there: dict, asked: dict) -> list[str]:
    a, b = flat_keys(there), flat_keys(asked)
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, "(unset)") != b.get(k, "(unset)"))
    shown = [f"{k}={a.get(k, '(unset)')} there, {b.get(k, '(unset)')} asked" for k in keys[:_SHOWN]]
    return shown + ([f"{len(keys) - _SHOWN} more"] if len(keys) > _SHOWN else [])


def _refuse(out: Path, what: str, differ: list[str]):
    raise PreflightError(f"out {out} holds a model trained with other {what} ({'; '.join(differ)}): "
                         f"choose another out= or delete the folder")


def check_model_folder(cfg, out: Path) -> None:
    """A model folder's config.yaml and weights must never disagree with each other: refuse to train
    into one that holds another training (the settings config.training_config keeps, the rule that
    names model folders) before config.yaml is rewritten. The same settings resume, or find it done."""
    config, last = out / CONFIG, out / LAST
    asked = training_config(cfg)
    if config.exists():
        try:
            there = training_config(compose([], base=OmegaConf.load(config)))
        except Exception as e:      # YAML, OmegaConf and ConfigError each raise their own types
            raise PreflightError(f"{config}: unreadable model configuration "
                                 f"({str(e).strip().splitlines()[0][:200]}); delete the folder or choose "
                                 f"another out=") from None
        if differ := _differences(there, asked):
            _refuse(out, "settings", differ)
    if not last.exists():
        return
    state = load_checkpoint(last)
    # the checkpoint's own record: a folder whose config.yaml is gone still names its trainer settings
    saved = {k: v for k, v in (state.get("settings") or {}).items() if k in asked["trainer"]}
    if differ := _differences({"trainer": saved}, {"trainer": {k: asked["trainer"][k] for k in saved}}):
        _refuse(out, "trainer settings", differ)
    with torch.device("meta"):              # shapes only: no memory, no time, no draw on the RNG
        shapes = {k: tuple(v.shape) for k, v in build_model(cfg).state_dict().items()}
    weights = state.get("model") or {}
    if {k: tuple(v.shape) for k, v in weights.items()} != shapes:
        wrong = sorted(k for k in shapes.keys() | weights.keys()
                       if k not in weights or k not in shapes or tuple(weights[k].shape) != shapes[k])
        raise PreflightError(f"{last}: weights of another network than net= asks ({len(wrong)} tensors differ, "
                             f"first {wrong[0]}): choose another out= or delete the folder")


def check_before_training(cfg, out: Path) -> Path:
    """Everything train would trip on, before it writes anything: the folder, the device, the trainer
    settings, the data, and a model already in the folder."""
    writable_dir(out, "out")
    device = select_device(cfg.device)
    resolve_precision(str(cfg.trainer.precision), device)
    trainer_settings(cfg)
    if cfg.data.name != "synthetic":
        # a corpus's pairs are found from file headers, in seconds; the synthetic set would be made, which is work
        load_split(cfg.data, "train")
    check_model_folder(cfg, out)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        own, overrides = parse_cli(argv, required=("out",))
        cfg = compose(overrides)
        out = check_before_training(cfg, Path(own["out"]))
        model, result = train_model(cfg, out, progress=sys.stderr.isatty())
        # the record the study driver also writes: the training hash lets enhance refuse a config.yaml
        # edited since (frontend.n_fft changes no weight's shape, so the weights alone cannot tell)
        mark_done(out, {**asdict(result), "training_hash": training_hash(cfg),
                        "parameters": sum(p.numel() for p in model.parameters())})
    except CheckpointError as e:
        print(f"error: {e} (delete it to train from scratch)", file=sys.stderr)
        return 2
    except (ConfigError, PreflightError, AudioError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
