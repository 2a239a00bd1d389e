"""Data: the embedded synthetic default, paired folders, VoiceBank-DEMAND, and batching.

    load_split(data_cfg, split) -> PairedDataset
    data_cfg: a mapping (OmegaConf or dict) with `name` in {synthetic, folder, vbdmd} plus that
    group's keys (benchmark/configs/data/<name>.yaml gives every key and its default).
    split: train, valid, test, and for synthetic also test_mismatched.
"""
from __future__ import annotations

from .paired import Pair, PairedDataset
from .settings import resolve

__all__ = ["load_split", "eval_splits", "resolve", "PairedDataset", "Pair"]

# What `eval.splits: null` scores: the synthetic set's mismatched split holds out noise types and
# voices from training, so a recipe tuned on the synthetic domain shows how far it carries.
EVAL_SPLITS = {"synthetic": ("test", "test_mismatched")}


def eval_splits(data_cfg, chosen=None) -> list[str]:
    """`chosen` (eval.splits) when set, else the data's evaluation splits."""
    return list(chosen) if chosen else list(EVAL_SPLITS.get(data_cfg["name"], ("test",)))


def load_split(data_cfg, split: str) -> PairedDataset:
    cfg = resolve(data_cfg)
    if cfg["name"] == "synthetic":
        from .synthetic import load
        return load(cfg, split)
    from .corpora import load_folder, load_vbdmd
    return (load_folder if cfg["name"] == "folder" else load_vbdmd)(cfg, split)
