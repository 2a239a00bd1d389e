"""Data: the embedded synthetic default, paired folders, VoiceBank-DEMAND, and batching.

    load_split(data_cfg, split) -> PairedDataset
    data_cfg: a mapping (OmegaConf or dict) with `name` in {synthetic, folder, vbdmd} plus that
    group's keys (benchmark/configs/data/<name>.yaml gives every key and its default).
    split: train, valid, test, and for synthetic also test_mismatched; for any data, `real`:
    real recordings from installed packages (real.py).
"""
from __future__ import annotations

import sys

from . import real, sources, synthetic
from .corpora import load_folder, load_vbdmd
from .paired import Pair, PairedDataset
from .settings import resolve

__all__ = ["load_split", "eval_splits", "dataset_id", "resolve", "PairedDataset", "Pair"]

# What `eval.splits: null` scores: the synthetic set's mismatched split holds out noise types and
# voices from training, so a recipe tuned on the synthetic domain shows how far it carries.
EVAL_SPLITS = {"synthetic": ("test", "test_mismatched")}


_told_missing = False


def eval_splits(data_cfg, chosen=None) -> list[str]:
    """`chosen` (eval.splits) when set, else the data's evaluation splits and, where the packages
    it comes from are installed, the real-recordings split (real.py); else a note, once, saying
    what it needs."""
    global _told_missing
    if chosen:
        return list(chosen)
    splits = list(EVAL_SPLITS.get(data_cfg["name"], ("test",)))
    try:
        sources.require()
        splits.append(real.SPLIT)
    except sources.MissingSource as e:
        if not _told_missing:
            print(f"note: the `real` split is skipped: {e}", file=sys.stderr, flush=True)
            _told_missing = True
    return splits


def load_split(data_cfg, split: str) -> PairedDataset:
    cfg = resolve(data_cfg)
    if split == "real":
        return real.load(cfg)
    if cfg["name"] == "synthetic":
        return synthetic.load(cfg, split)
    return (load_folder if cfg["name"] == "folder" else load_vbdmd)(cfg, split)


def dataset_id(data_cfg) -> str:
    """What a study's provenance names its data by: the synthetic set's cache folder (a hash of
    every setting that changes its bytes), else the corpus and its folder."""
    cfg = resolve(data_cfg)
    if cfg["name"] == "synthetic":
        return synthetic.dataset_dir(cfg).name
    return f"{cfg['name']}:{cfg.get('root') or cfg.get('path') or ''}"
