"""A finished cell's files (results/<study>/cells/<hash>/) and its nested MLflow run.

Files: config.yaml (resolved), per_utterance.csv, summary.csv, and for a few test utterances the
noisy / enhanced / clean wavs and one spectrogram PNG comparing them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from ..audio.io import write_audio
from . import ledger

# What a reader of the MLflow runs table wants as columns: the output means of each split.
PRIMARY_METRICS = ("pesq_wb", "estoi", "si_sdr", "dnsmos_ovrl")


def spectrogram_png(path: Path, noisy, enhanced, clean, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True, constrained_layout=True)
    for ax, (name, x) in zip(axes, (("noisy", noisy), ("enhanced", enhanced), ("clean", clean))):
        f, t, z = stft(x, fs=16000, nperseg=512, noverlap=384)
        ax.pcolormesh(t, f / 1000, 20 * np.log10(np.abs(z) + 1e-8), vmin=-100, vmax=-10, shading="auto", cmap="magma")
        ax.set_ylabel(f"{name}\nkHz")
    axes[-1].set_xlabel("s")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_cell_files(folder: Path, cell, table, rows, extra) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cell.config, folder / "config.yaml")
    table.to_csv(folder / ledger.PER_UTTERANCE, index=False)
    rows.to_csv(folder / "summary.csv", index=False)
    files = [folder / "config.yaml", folder / ledger.PER_UTTERANCE, folder / "summary.csv"]
    ex_dir = folder / "examples"
    for split, items in extra["examples"].items():
        for it in items:
            stem = f"{split}_{it['name']}"
            for role in ("noisy", "enhanced", "clean"):
                write_audio(ex_dir / f"{stem}_{role}.wav", it[role])
            spectrogram_png(ex_dir / f"{stem}.png", it["noisy"], it["enhanced"], it["clean"], f"{cell.label} — {stem}")
    return files


def open_cell_run(tracker, cell, train_run: str | None) -> str | None:
    """The cell's nested run, RUNNING while the cell is evaluated (a retried cell takes up its old run)."""
    if tracker is None:
        return None
    return tracker.get_or_create_run(f"cell {cell.hash} {cell.label}", {"cell": cell.hash, "role": "cell"}, train_run)


def log_cell(tracker, run: str | None, out_dir: Path, cell, table, rows, extra, infer_cfg: dict) -> None:
    """Write the cell's files, log them and its metrics to `run`, and end the run FINISHED."""
    folder = ledger.cell_dir(out_dir, cell.hash)
    files = write_cell_files(folder, cell, table, rows, extra)
    if tracker is None:
        return
    tracker.log_params(run, {**infer_cfg, "cell_hash": cell.hash, "training_hash": cell.training_hash,
                             "axes": cell.axes, "overrides": " ".join(cell.overrides)})
    metrics = {}
    for r in rows.itertuples():
        key = f"{r.split}.{r.metric}.{r.which}"
        metrics[key] = r.mean
        metrics[key + ".ci95"] = r.ci95
        if r.which == "output" and r.metric in PRIMARY_METRICS:
            # one prefix, so the runs table lists these next to each other as its columns
            metrics[f"score.{r.split}.{r.metric}"] = r.mean
    for split, t in extra["timing"].items():
        metrics[f"{split}.nfe"], metrics[f"{split}.rtf"] = t["nfe"], t["rtf"]
        if "minutes" in t:
            metrics[f"{split}.eval_minutes"] = t["minutes"]
    tracker.log_metrics(run, metrics)
    for f in files:
        tracker.log_artifact(run, f)
    if (folder / "examples").is_dir():
        for f in sorted((folder / "examples").iterdir()):
            tracker.log_artifact(run, f, "examples")
    tracker.finish(run)
