"""What a study will cost on this device, from measured costs, never guessed.

Three unit costs are measured once per (device, network, front end, batch shape, precision,
metrics) and cached in `<results>/costs.json`:
    train_step_s     one optimiser step of the cell's trainer batch (crop or bucket shape)
    call_s           one network evaluation per second of audio, in the inference precision
    score_s          scoring one second of audio, input and output, every metric, on one core
A study's price is then  Σ_models steps·train_step_s  +  Σ_cells audio·NFE·call_s, divided by the
measured speed-up of --jobs, plus  Σ_cells audio·score_s / cores  (scoring already runs a pool over
every core), the input's half of score_s dropped for every cell after a split's first
(input_scores.py). Delete costs.json to measure again. Figures timed while other processes held more
than a quarter of the machine (contention.py) are used for that price, said to read high, and not
kept. Where $BENCHMARK_COSTS_CACHE names a file, the
three measured figures are also read from and kept in it, shared by every results folder on the
machine: a new folder then reads them instead of measuring (1-3 s a configuration; the test suite
sets one per session, where dozens of fresh results folders measured the same tiny net again).

Each model a study trains adds its own rate, seconds a step with fit's bookkeeping, to its entry
(`observed_step_s`, per torch thread count: a job of --jobs 2 has half the cores). Where one exists
it prices training instead of the bare step: on the AVX2 pair of 2026-12-03 the bare step was timed
at 1.24 s (1.39 with FIT_OVERHEAD) while the models of `drift_and_prior` trained at 1.00 s a step,
so every price and ETA of that run read 1.4x too long.

Each cell a study scores adds its enhancement rate, seconds a network evaluation per second of
audio (RTF over NFE, the sampler's own work included), in the same way (`observed_call_s`): on the
AVX512-BF16 pair of 2026-12-04 the bare call was timed at 0.0158 s while the cells of
`sampler_ablation` enhanced at 0.020-0.024 s, so every evaluation was priced 1.4x short.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..audio.io import SAMPLE_RATE
from ..audio.metrics import score_many
from ..config import fresh_model, stable_hash, to_dict
from ..data import eval_splits, load_split, real, resolve
from ..durable import locked, read_json, write_json
from ..fit import plain_step
from ..provenance import device_name
from ..runtime import autocast, inference_precision, resolve_precision, set_threads
from ..store import folder_of, steps_trained
from . import ledger, shared_cells
from .contention import BUSY, Others
from .done import done_hashes, model_trained

# Two one-thread jobs against one two-thread job, training the small net on 2 cores: 1.2x (32.8 vs
# 27.2 examples/s, perf/train_step.py --threads 1 twice at once). Enhancement is the same network.
JOBS_SPEEDUP = {1: 1.0, 2: 1.2}
# fit() around the bare step (batches read and cropped, EMA, checkpoints, validation): a calibration
# run of sde_ablation at 300 steps trained 1.9 steps/s per job where the bare step gives 2.14.
FIT_OVERHEAD = 1.12
POOL_EFFICIENCY = 1.0                  # scoring pool on 2 cores: 1.99x one process (perf/metrics_throughput.py)
_AUDIO_S = 4.0                         # the utterance length the call and score costs are timed on


@dataclass
class Price:
    train_minutes: float
    eval_minutes: float
    models: int
    steps: int
    utterances: int
    unknown: list[str]                 # what could not be priced, and why
    observed: int = 0                  # models priced at the rate this device trained such a model
    contended: float | None = None     # others' largest share of the machine while a figure was timed
    observed_cells: int = 0            # cells whose enhancement is priced at the rate seen here

    @property
    def minutes(self) -> float:
        return self.train_minutes + self.eval_minutes


def _key(cfg) -> dict:
    t = cfg.trainer
    return {"net": to_dict(cfg.net), "frontend": to_dict(cfg.frontend), "kind": cfg.model.kind,
            "batch": [t.batch_mode, t.batch_size, t.crop_seconds, t.batch_seconds],
            "precision": [t.precision, cfg.eval.get("precision")], "metrics": list(cfg.eval.metrics),
            "device": str(cfg.device)}


def _measure(cfg) -> dict:
    model, frontend, device = fresh_model(cfg)
    set_threads(None)
    model.to(device)
    t = cfg.trainer
    gen = torch.Generator(device=device).manual_seed(0)
    if t.batch_mode == "bucket":                       # ~4 s utterances filling batch_seconds, no more:
        # a step costs what its frames cost (NCSN++M on CPU: 0.093 s a frame at 1 × 501 and at 2 × 158),
        # so one 4 s utterance for the paper rehearsal's 2.5 s budget priced its steps at 1.6x
        n = max(1, round(float(t.batch_seconds) / _AUDIO_S))
        shape = (n, int(float(t.batch_seconds) / n * SAMPLE_RATE))
    else:
        shape = (int(t.batch_size), int(float(t.crop_seconds) * SAMPLE_RATE))
    clean = 0.05 * torch.randn(*shape, generator=gen, device=device)
    x0 = frontend.stft(clean)
    y = frontend.stft(clean + 0.05 * torch.randn(*shape, generator=gen, device=device))
    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    precision = resolve_precision(t.precision, device)

    def step():
        plain_step(model, opt, x0, y, None, gen, precision, device)

    def timed(fn):
        return _timed(fn, (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None))

    train_step_s = timed(step)
    model.eval()
    audio_n = int(_AUDIO_S * SAMPLE_RATE)             # the 4 s a call and a score are priced on
    y1 = frontend.stft(0.05 * torch.randn(1, audio_n, generator=gen, device=device))
    infer = inference_precision(cfg, device)

    def call():
        with torch.no_grad(), autocast(infer, device):
            if cfg.model.kind == "predictive":
                model(y1)
            else:
                model.denoiser(y1, y1, torch.tensor(0.25), torch.tensor(0.5))

    call_s = timed(call) / _AUDIO_S
    rng = np.random.default_rng(0)
    s = 0.1 * np.sin(np.arange(audio_n) * 0.05) * rng.uniform(0.5, 1, audio_n)
    items = [{"name": "a", "clean": s.astype(np.float32),
              "noisy": (s + 0.02 * rng.standard_normal(len(s))).astype(np.float32),
              "enhanced": (s + 0.01 * rng.standard_normal(len(s))).astype(np.float32)}]
    began = time.perf_counter()
    score_many(items, metrics=list(cfg.eval.metrics), jobs=1)
    score_s = (time.perf_counter() - began) / _AUDIO_S
    return {"train_step_s": train_step_s, "call_s": call_s, "score_s": score_s}


def _timed(fn, sync, n: int = 3) -> float:
    """Seconds one call of `fn` takes: the fastest of `n` calls after a warm-up.

    The warm-up is never the figure: it carries one-time costs (oneDNN kernel selection,
    allocation), measured at 9.4 s for a 0.3 s step of the small net, which priced a 2-hour study at
    50 h. The fastest call, not the mean: other work on the machine only ever adds time (the mean of
    three, measured beside a running study, priced the small net's step at 2.07 s where training
    went at 1.6 s a step, bookkeeping included). A slow net (NCSN++M on CPU) is timed by one call.
    """
    def once():
        began = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - began

    first = once()
    return min(once() for _ in range(1 if first >= 5 else n))


_KNOWN: dict[tuple[str, str, str], dict] = {}   # costs.json as this process has read it


def unit_costs(cfg, results: Path, device_name: str) -> dict:
    """The measured costs of `cfg`'s network and trainer on this device (cached in costs.json and,
    for the ETA the cells bar recomputes every few seconds, in this process)."""
    path, key = _entry(cfg, results)
    memo = (str(path.resolve()), device_name, key)
    if memo in _KNOWN:
        return _KNOWN[memo]
    _KNOWN[memo] = _read_or_measure(cfg, path, device_name, key)
    return _KNOWN[memo]


def _entry(cfg, results: Path) -> tuple[Path, str]:
    """costs.json under `results`, and the key of `cfg`'s entry in it."""
    return ledger.costs(results), stable_hash(_key(cfg), n=12)


# (costs.json, device, key) -> others' share of the machine while that entry was timed, for figures
# not kept because of it (contention.py): the price says so, and the next process measures again
CONTENDED: dict[tuple[str, str, str], float] = {}


def _read_or_measure(cfg, path: Path, device_name: str, key: str) -> dict:
    with locked(path.with_suffix(".lock")):
        cache = read_json(path) or {}
        found = cache.get(device_name, {}).get(key) or {}
        if "train_step_s" in found:
            return found
        measured, share = _measured(cfg, device_name, key)
        found = {**measured, **found}                     # an observed rate may have come first
        if share is not None and share > BUSY:
            CONTENDED[(str(path.resolve()), device_name, key)] = share
            return found
        cache.setdefault(device_name, {})[key] = found
        write_json(path, cache)
    return found


def _timed_here(cfg) -> tuple[dict, float | None]:
    """_measure's figures and the share of the machine other processes took meanwhile."""
    with Others() as others:
        figures = _measure(cfg)
    return figures, others.share


COSTS_CACHE = "BENCHMARK_COSTS_CACHE"


def _measured(cfg, device_name: str, key: str) -> dict:
    """_measure's figures, from the machine-wide file $BENCHMARK_COSTS_CACHE where it has them (the
    observed rates stay per results folder: they describe that folder's runs), and others' share of
    the machine while they were timed (None when read from the file)."""
    shared = os.environ.get(COSTS_CACHE)
    if not shared:
        return _timed_here(cfg)
    shared = Path(shared)
    with locked(shared.with_suffix(".lock")):      # always taken inside the results lock: one order
        cache = read_json(shared) or {}
        entry = cache.get(device_name, {}).get(key)
        if entry is not None:
            return dict(entry), None
        entry, share = _timed_here(cfg)
        if share is None or share <= BUSY:
            cache.setdefault(device_name, {})[key] = entry
            write_json(shared, cache)
    return dict(entry), share


_KEPT = 5                                  # observations kept per thread count; the median is used


def observe_training(cfg, results: Path, device_name: str, info: dict, threads: int) -> None:
    """Keep a finished training's rate (its done.json: minutes over steps, the sittings of a resumed
    model summed by fit) as a measured cost of this device and configuration."""
    steps, minutes = int(info.get("steps") or 0), float(info.get("minutes") or 0)
    if steps > 0 and minutes > 0:
        _keep(cfg, results, device_name, "observed_step_s", threads, minutes * 60 / steps)


def observe_enhancement(cfg, results: Path, device_name: str, timing: dict, threads: int) -> None:
    """Keep a scored cell's enhancement rate, per split its RTF over its NFE, as a measured cost of
    this device and configuration (a split resumed from kept work reports the sums of its sittings)."""
    rates = [float(t["rtf"]) / float(t["nfe"]) for t in timing.values()
             if float(t.get("nfe") or 0) > 0 and float(t.get("rtf") or 0) > 0]
    if rates:
        _keep(cfg, results, device_name, "observed_call_s", threads, float(np.median(rates)))


def _keep(cfg, results: Path, device_name: str, field: str, threads: int, value: float) -> None:
    """Add `value` to the last _KEPT observations of `field` at `threads` in costs.json."""
    path, key = _entry(cfg, results)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_suffix(".lock")):
        cache = read_json(path) or {}
        entry = cache.setdefault(device_name, {}).setdefault(key, {})
        seen = entry.setdefault(field, {}).setdefault(str(int(threads)), [])
        seen[:] = [*seen, value][-_KEPT:]
        write_json(path, cache)
    _KNOWN.pop((str(path.resolve()), device_name, key), None)


def observed_step_s(costs: dict, threads: int, field: str = "observed_step_s") -> float | None:
    """The median observed seconds a step (or, with field="observed_call_s", a network evaluation
    per second of audio) at `threads` torch threads, or None if never observed."""
    seen = (costs.get(field) or {}).get(str(int(threads)))
    return float(np.median(seen)) if seen else None


def observed_rates(cfg, results: Path, device_name: str) -> dict[int, float]:
    """Threads -> median observed seconds a step of `cfg`'s training on this device, from costs.json
    as it stands (nothing is measured)."""
    path, key = _entry(cfg, results)
    costs = (read_json(path) or {}).get(device_name, {}).get(key, {})
    return {int(t): observed_step_s(costs, int(t)) for t in costs.get("observed_step_s", {})}


def job_threads(cfg, jobs: int) -> int:
    """The torch threads one training job gets: run.py gives each of several jobs an equal share."""
    cores = len(os.sched_getaffinity(0))
    return max(1, cores // jobs) if jobs > 1 else int(cfg.trainer.get("threads") or cores)


def split_audio(data_cfg, split: str) -> tuple[int, float] | None:
    """(utterances, seconds of audio) of a split, from settings or file headers; None if unknown."""
    return _split_audio(json.dumps(to_dict(data_cfg), sort_keys=True), split)


@lru_cache(maxsize=64)
def _split_audio(data_json: str, split: str) -> tuple[int, float] | None:
    data_cfg = json.loads(data_json)
    d = resolve(data_cfg)
    if split == "real":                                # a fixed size, known without building it
        return real.SIZE, real.SIZE * float(np.mean(real.SECONDS))
    if d["name"] == "synthetic":                       # durations are drawn uniformly in `seconds`
        n = int(d["sizes"][split])
        return n, n * float(np.mean(d["seconds"]))
    try:
        ds = load_split(data_cfg, split)
    except (OSError, ValueError):
        return None
    return len(ds), sum(ds.lengths) / SAMPLE_RATE


def price(cells, results: Path, device_name: str, jobs: int, done_models=(), done_cells=(),
          steps_done: dict | None = None) -> Price:
    """The price of the cells not yet done (models in `done_models` are not trained again; a model
    in `steps_done`, training hash -> step of its checkpoint, resumes from that step)."""
    train_s = observed_s = enhance_s = observed_enhance_s = score_s = 0.0
    models, steps, utterances, unknown, observed, observed_cells = set(done_models), 0, 0, [], 0, 0
    contended = None
    scored_inputs: set[tuple[str, str]] = set()
    for c in cells:
        if c.hash in done_cells:
            continue
        cfg = c.config
        costs = unit_costs(cfg, results, device_name)
        path, key = _entry(cfg, results)
        share = CONTENDED.get((str(path.resolve()), device_name, key))
        contended = contended if share is None else max(contended or 0.0, share)
        if c.training_hash not in models:
            models.add(c.training_hash)
            if cfg.trainer.max_steps:
                left = max(0, int(cfg.trainer.max_steps) - int((steps_done or {}).get(c.training_hash, 0)))
                steps += left
                rate = observed_step_s(costs, job_threads(cfg, jobs))
                if rate is not None:              # a job's own wall-clock; --jobs run side by side
                    observed_s += left * rate / jobs
                    observed += 1
                else:
                    train_s += left * costs["train_step_s"] * FIT_OVERHEAD
            else:
                unknown.append(f"model {c.training_hash}: an epoch budget (trainer.max_epochs) is not priced")
        nfe = c.nfe_budget()
        call = observed_step_s(costs, job_threads(cfg, jobs), "observed_call_s")
        observed_cells += call is not None
        for split in eval_splits(cfg.data, cfg.eval.splits):
            audio = split_audio(cfg.data, split)
            if audio is None:
                unknown.append(f"cell {c.hash}: the size of split {split} is unknown")
                continue
            n, seconds = audio
            if cfg.eval.max_utterances is not None and n:
                seconds *= min(1.0, int(cfg.eval.max_utterances) / n)
                n = min(n, int(cfg.eval.max_utterances))
            utterances += n
            inputs = (json.dumps(to_dict(cfg.data), sort_keys=True), split)
            first = inputs not in scored_inputs
            scored_inputs.add(inputs)
            if call is not None:                      # a job's own wall-clock; --jobs run side by side
                observed_enhance_s += seconds * nfe * call / jobs
            else:
                enhance_s += seconds * nfe * costs["call_s"]
            pool = min(len(os.sched_getaffinity(0)), int(cfg.eval.jobs or 10 ** 6))
            score_s += (seconds * costs["score_s"] * (1.0 if first else 0.5)
                        / (POOL_EFFICIENCY * pool if pool > 1 else 1))
    speedup = JOBS_SPEEDUP.get(jobs, JOBS_SPEEDUP[2] * jobs / 2)
    return Price((train_s / speedup + observed_s) / 60, (enhance_s / speedup + observed_enhance_s + score_s) / 60,
                 len(models) - len(set(done_models)), steps, utterances, unknown, observed, contended, observed_cells)


def describe(p: Price, device_name: str, jobs: int) -> str:
    """One line a user plans with."""
    seen = f" ({p.observed} at the rate such a model trained here)" if p.observed else ""
    cells = f" ({p.observed_cells} cell(s) at the rate cells enhanced here)" if p.observed_cells else ""
    text = (f"estimated on {device_name} with --jobs {jobs}: {p.models} model(s) to train, {p.steps:,} steps "
            f"≈ {_hours(p.train_minutes)}{seen}; {p.utterances:,} utterance(s) to enhance and score ≈ "
            f"{_hours(p.eval_minutes)}{cells}; total ≈ {_hours(p.minutes)}")
    if p.contended is not None:
        text += (f"\n  timed while other processes held {p.contended:.0%} of this machine's cores: the figures "
                 "read high and were not kept (measured again next time)")
    return text + "".join(f"\n  not priced: {u}" for u in p.unknown)


def _hours(minutes: float) -> str:
    if minutes < 1:
        return "< 1 min"
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def done_or_shared(out_dir: Path, cells, done=None) -> set[str]:
    """Cells done here (`done`, else by done.py), and those another study scored (shared_cells.py: free)."""
    done = done_hashes(out_dir, cells) if done is None else set(done)
    return done | set(shared_cells.sources(out_dir.parent, out_dir.name, [c for c in cells if c.hash not in done]))


def left_to_do(cells, results: Path, out_dir: Path, jobs: int, done_cells=None, models: Path | None = None):
    """The price of what is left, from unit costs measured on this device."""
    models = ledger.models_root(results, models)
    hashes = {c.training_hash for c in cells}
    done_models = {h for h in hashes if model_trained(folder_of(models, h))}
    started = {h: steps_trained(folder_of(models, h)) for h in hashes - done_models}
    return price(cells, results, device_name(cells[0].config), jobs, done_models,
                 done_or_shared(out_dir, cells, done_cells), steps_done=started)


def estimate(cells, results: Path, out_dir: Path, jobs: int, done_cells=None, models: Path | None = None) -> str:
    return describe(left_to_do(cells, results, out_dir, jobs, done_cells, models), device_name(cells[0].config),
                    jobs)
