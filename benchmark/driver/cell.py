"""One cell, end to end: make sure its model is trained (once), enhance the test split, score, log.

    ensure_model(cfg)  -> model folder <models>/<training hash>/ with last.pt (trains if absent,
                          resumes if partial; a claim makes parallel workers wait, not retrain:
                          claims.py, a file lock or a row in the shared database)
    evaluate_cell(...) -> tidy rows for cells.csv, per-utterance CSV, MLflow nested run
"""
from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..audio.metrics import score_many, summarise
from ..config import sampler_from_config, training_config, training_hash
from ..data import load_split
from ..durable import locked
from ..enhance import enhance_waveform
from ..fit import spectrograms
from ..runtime import inference_precision
from ..store import CONFIG, export_weights, finished, folder_of, load_trained, mark_done, train_model
from . import condition_scores, input_scores, ledger, partial
from .claims import ClaimLost, FileClaims
from .partial import CellProgress, Kept, fingerprint, weights_id

VAL_METRICS = ("pesq_wb", "estoi", "si_sdr")


def make_validator(cfg, frontend, device, sampler):
    """fit()'s validate(): denoising loss and enhancement metrics on a few validation utterances."""
    n = int(cfg.trainer.val_utterances)
    if n <= 0:
        return None
    valid = load_split(cfg.data, "valid")
    idx = list(range(min(n, len(valid))))

    precision = inference_precision(cfg, device)

    def validate(model, step):
        items = []
        gen = torch.Generator(device=device).manual_seed(1234)
        losses = []
        for i in idx:
            it = valid[i]
            enh = enhance_waveform(model, frontend, it["noisy"], sampler, device=device, generator=gen,
                                   precision=precision)
            items.append({"name": it["name"], "clean": it["clean"], "noisy": it["noisy"], "enhanced": enh.audio})
            with torch.no_grad():
                batch = {"clean": torch.as_tensor(it["clean"])[None], "noisy": torch.as_tensor(it["noisy"])[None]}
                x0, y, _ = spectrograms(frontend, batch, device)
                losses.append(float(model.loss(x0, y, None, gen)[0]))
        table = score_many(items, metrics=VAL_METRICS, jobs=1)
        out = {"loss": float(np.mean(losses))}
        for metric, grp in table.groupby("metric"):
            out[metric] = float(np.nanmean(grp["output"]))
        out["val_score"] = out.get("pesq_wb", -out["loss"])
        return out
    return validate


def ensure_model(cfg, models_root: Path, *, tracker=None, parent_run=None, progress=True, claims=None,
                 observe=None) -> tuple[Path, dict, str | None]:
    """Train the cell's model unless a finished one exists; returns (folder, training info, run id).

    claims: who may train it (claims.claims_for); default a file lock in the folder.
    observe(info, threads): told of a training this call did (price.observe_training keeps its rate)."""
    thash = training_hash(cfg)
    folder = folder_of(models_root, thash)
    run_id = None
    if tracker is not None:
        run_id = tracker.get_or_create_run(f"train {thash}", {"training_hash": thash, "role": "training"},
                                           parent_run, reopen=False)
    with (claims or FileClaims()).hold(folder) as claim:
        info = finished(folder)
        if info is None:
            curves = None
            if tracker is not None:
                tracker.reopen(run_id)
                tracker.log_params(run_id, {**training_config(cfg), "model_dir": str(folder.resolve())})
                curves = tracker.curve_logger(run_id)

            def log(metrics, step, flush=False):
                claim.check()              # taken over by another worker: stop, it trains this model
                if curves:
                    curves(metrics, step, flush)
            try:
                model, result = train_model(
                    cfg, folder, log=log, progress=progress,
                    make_validate=lambda m, f, d: make_validator(cfg, f, d, sampler_from_config(cfg, m)))
                log({}, result.steps, flush=True)
                if result.resumed_from:
                    print(f"model {thash}: resumed from the checkpoint at step {result.resumed_from}", flush=True)
                info = {**asdict(result), "training_hash": thash,
                        "parameters": sum(p.numel() for p in model.parameters())}
                exported = export_weights(model, folder)
                if tracker is not None:
                    tracker.log_metrics(run_id, {"train_minutes": result.minutes, "train_steps": result.steps})
                    tracker.log_artifact(run_id, folder / CONFIG)
                    tracker.log_artifact(run_id, exported)
                    tracker.finish(run_id)
            except BaseException as e:
                if tracker is not None and not isinstance(e, ClaimLost):    # else the run is its new holder's
                    tracker.finish(run_id, "KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
                raise
            # Last: the marker says that everything above happened. A kill before it leaves a model
            # that the next run "resumes" at its final step, exporting and closing its run again.
            mark_done(folder, info)
            if observe is not None and info["steps"] > info["resumed_from"]:   # not a bare re-export
                observe(info, torch.get_num_threads())
        elif tracker is not None and run_id not in tracker.finished and tracker.status(run_id) != "FINISHED":
            # A model trained for another study (or before this store existed): its run here says where it is.
            tracker.log_params(run_id, {**training_config(cfg), "model_dir": str(folder.resolve())})
            tracker.finish(run_id)
        elif tracker is not None:
            tracker.finished.add(run_id)          # FINISHED on the server: no need to ask each cell
    return folder, info, run_id


def evaluate_cell(cfg, folder: Path, splits, *, progress=True, input_cache: Path | None = None,
                  keep: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Enhance and score each split; returns (per-utterance table with `split`, timing info).

    input_cache: a folder where the noisy input's scores are kept and reused (input_scores.py).
    keep: a folder where the work is kept as it is done, and found by a run killed before the end
    (partial.py): it then goes on from the next utterance, with the same numbers."""
    loaded = load_trained(cfg, folder, cfg.eval.checkpoint)
    model, frontend, device = loaded.model, loaded.frontend, loaded.device
    sampler = sampler_from_config(cfg, model)
    precision = inference_precision(cfg, device)
    kept = CellProgress.open(keep, fingerprint(cfg, model)) if keep else None
    tables, timing, examples = [], {}, {}
    gen = torch.Generator(device=device).manual_seed(int(cfg.seed))
    for split in splits:
        began = time.perf_counter()
        data = load_split(cfg.data, split)
        n = len(data) if cfg.eval.max_utterances is None else min(len(data), int(cfg.eval.max_utterances))
        so_far = kept.load(split) if kept else Kept()
        if so_far.state is not None:
            gen.set_state(so_far.state)
        enhanced, nfe, seconds, audio = so_far.enhanced, so_far.nfe, so_far.seconds, so_far.audio
        first, saved = len(enhanced), time.perf_counter()
        items = [_item(data[i], enhanced[i]) for i in range(first)]
        for i in tqdm(range(first, n), desc=f"enhance {split}", disable=not progress, leave=False,
                      mininterval=2, initial=first, total=n):
            it = data[i]
            enh = enhance_waveform(model, frontend, it["noisy"], sampler, device=device, generator=gen,
                                   precision=precision)
            items.append(_item(it, enh.audio))
            enhanced.append(enh.audio)
            nfe.append(enh.nfe)
            seconds += enh.seconds
            audio += len(it["noisy"]) / 16000
            if kept and (i == n - 1 or time.perf_counter() - saved >= partial.SAVE_EVERY_S):
                kept.save(split, first, enhanced[first:], nfe[first:], seconds, audio,
                          so_far.minutes + (time.perf_counter() - began) / 60, gen.get_state())
                first, saved = i + 1, time.perf_counter()
        cache = input_scores.cache_path(input_cache, cfg.data, split) if input_cache else None
        scored = kept.scores(split) if kept else None
        if scored is None:
            table = score_many(items, metrics=list(cfg.eval.metrics), jobs=cfg.eval.jobs,
                               known_inputs=input_scores.load(cache) if cache else None)
            minutes = so_far.minutes + (time.perf_counter() - began) / 60          # enhancing and scoring
            if kept:
                kept.save_scores(split, table, minutes)
        else:
            table, minutes = scored
        if cache:
            input_scores.store(cache, table)
        table.insert(0, "split", split)
        tables.append(condition_scores.tag(table, getattr(data, "metadata", None)))
        timing[split] = {"nfe": float(np.mean(nfe)), "rtf": seconds / max(audio, 1e-9), "utterances": n,
                         "minutes": minutes}
        picks = condition_scores.spanning_examples(getattr(data, "metadata", None), n, int(cfg.eval.examples))
        examples[split] = [items[i] for i in picks]
    return pd.concat(tables, ignore_index=True), {"timing": timing, "examples": examples,
                                                  "weights": weights_id(model)}


def _item(it: dict, enhanced: np.ndarray) -> dict:
    return {"name": it["name"], "clean": it["clean"], "noisy": it["noisy"], "enhanced": enhanced}


def cell_rows(study: str, cell, table: pd.DataFrame, timing: dict, train_info: dict, device: str,
              weights: str | None = None) -> pd.DataFrame:
    """The cell's tidy rows for cells.csv: one per split × metric × which (input, output, delta);
    `weights`: the digest of the weights it was scored on (partial.weights_id)."""
    summary = summarise(table, by=["split"])
    rows = summary.copy()
    rows.insert(0, "study", study)
    rows.insert(1, "cell", cell.hash)
    rows.insert(2, "training_hash", cell.training_hash)
    rows.insert(3, "kind", cell.kind)
    rows.insert(4, "label", cell.label)
    for i, (axis, value) in enumerate(cell.axes.items()):
        rows.insert(5 + i, axis, value)
    rows["nfe"] = rows["split"].map(lambda s: timing[s]["nfe"])
    rows["rtf"] = rows["split"].map(lambda s: timing[s]["rtf"])
    rows["train_steps"] = train_info.get("steps")
    rows["train_minutes"] = train_info.get("minutes")
    rows["device"] = device
    rows["weights"] = weights
    rows["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return rows


def append_rows(path: Path, rows: pd.DataFrame) -> None:
    """Append under a lock, so parallel workers never interleave; a crash loses no finished cell.
    A cell already in the file has its rows replaced (a re-run, or rows synced from the queue)."""
    with locked(path.with_suffix(".lock")):
        if path.is_file():
            # as text: parsed, a numeric axis whose predictive rows are empty became floats and was
            # written back as "4.0" where the study says "4" (sampler_ablation's steps, 2026-12-04)
            old = pd.read_csv(path, dtype=str, keep_default_na=False)
            old = old[~old["cell"].isin(set(rows["cell"]))]
            rows = pd.concat([old, rows], ignore_index=True)
        tmp = path.with_suffix(".tmp")
        rows.to_csv(tmp, index=False)
        tmp.replace(path)                                         # atomic: a kill keeps the old file


# The queue keeps each finished cell's rows (its trial's user attributes, as CSV text), so every
# machine can rebuild cells.csv and conditions.csv whole from the shared storage (sync_tables).
TABLES = ledger.TABLES


def objective(rows: pd.DataFrame, primary: str) -> float:
    """The trial's value: the primary metric's output mean on the first split (0 where it is NaN)."""
    score = rows[(rows.metric == primary) & (rows.which == "output")]["mean"]
    return float(score.iloc[0]) if len(score) and score.iloc[0] == score.iloc[0] else 0.0


def rows_attr(rows: pd.DataFrame) -> str:
    return rows.to_csv(index=False)


def sync_tables(study, out_dir: Path, hashes) -> int:
    """Write into out_dir the rows of every cell of `hashes` that the queue holds as COMPLETE;
    returns how many cells' rows it holds."""
    import io

    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.user_attrs.get("cell") in hashes]
    for attr, name in TABLES.items():
        frames = [pd.read_csv(io.StringIO(t.user_attrs[attr]), dtype=str, keep_default_na=False)   # as append_rows
                  for t in complete if t.user_attrs.get(attr)]
        if frames:
            append_rows(out_dir / name, pd.concat(frames, ignore_index=True))
    return sum(1 for t in complete if t.user_attrs.get("rows"))


