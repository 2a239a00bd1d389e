"""Identity: every hash, and every table of what a hash leaves out.

A cell is (training configuration) x (inference configuration); each part hashes what it depends on.
`training_hash` names a model folder (brever's `Config.get_hash`), `cell_hash` a cell; both are the
first 8 hex digits of the sha256 of key-sorted JSON. What is left out, and why, is decided here:
  _NOT_TRAINING            bookkeeping that never changes the weights (logging, threads, workers)
  GAMMA_FREE_SDES          γ under all-EDM preconditioning (docs/design-space.md §1)
  LATER_NEUTRAL            data settings added after models were trained, at their neutral value
                           (owned by data/synthetic.py, whose dataset hash drops them the same way)
  ADDED_DEFAULTS           net, loss and sampler settings added after models were trained or cells
                           scored, at the behaviour those had
  eval.precision           numerics, not a different experiment (as the device is)
"""
from __future__ import annotations

import hashlib
import json

from ..data.synthetic import LATER_NEUTRAL, effective
from ..diffusion.sdes import same_process
from .build import all_edm
from .schema import to_dict

GAMMA_FREE_SDES = ("ouve", "ouvp", "oucosine")      # σ(t) does not depend on γ (docs/design-space.md §1)

def stable_hash(obj, n: int = 8) -> str:
    """sha256 of the key-sorted JSON, first n hex digits (brever's `Config.get_hash`)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


# A setting added after results existed enters an id only when set away from the behaviour those
# results had, so their models and cells keep their ids (docs/design-space.md §5 for sampler.start).
ADDED_DEFAULTS = {"net": {"patch": 1}, "loss": {"input_perturbation": 0.0}, "sampler": {"start": "plain"}}

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
        out["data"] = effective(d["data"])
    if d["data"].get("name") == "synthetic":
        # a setting added after models were trained leaves their ids alone while it is off
        out["data"] = {k: v for k, v in out["data"].items()
                       if not (k in LATER_NEUTRAL and v == LATER_NEUTRAL[k])}
    for group, keys in _NOT_TRAINING.items():
        out[group] = {k: v for k, v in out[group].items() if k not in keys}
    out["net"] = _without_added("net", out["net"])
    if d["model"]["kind"] == "diffusion":
        out["sde"] = dict(d["sde"], name=_sde_name(d["sde"]) if canonical else d["sde"]["name"])
        out["preconditioning"] = d["preconditioning"]
        out["loss"] = _without_added("loss", d["loss"])
        if out["sde"]["name"] in GAMMA_FREE_SDES and all_edm(cfg):
            out["sde"].pop("stiffness", None)
    else:
        out["preconditioning"] = {"sigma_data": d["preconditioning"]["sigma_data"]}
    return out


def _without_added(group: str, settings: dict) -> dict:
    added = ADDED_DEFAULTS[group]
    return {k: v for k, v in settings.items() if not (k in added and v == added[k])}


def gamma_free(cfg) -> bool:
    return _sde_name(to_dict(cfg.sde)) in GAMMA_FREE_SDES and all_edm(cfg)


def _sde_name(sde: dict) -> str:
    return same_process(sde["name"], sde.get("stiffness"))


def inference_config(cfg) -> dict:
    d = to_dict(cfg)
    out = {"eval": d["eval"]}
    if d["model"]["kind"] == "diffusion":
        out["sampler"] = _without_added("sampler", d["sampler"])
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
