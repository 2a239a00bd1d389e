"""Speech-enhancement metrics per utterance, for the noisy input and the enhanced output, in parallel.

Names are exact because toolkits mix them up (gtcrn #70: STOI reported as ESTOI):
  pesq_wb  ITU-T P.862.2 wide-band PESQ (`pesq` package), 16 kHz
  pesq_nb  ITU-T P.862 narrow-band PESQ, raw MOS-LQO scale as the `pesq` package returns it
  estoi    extended STOI (Jensen & Taal 2016), pystoi `extended=True`
  stoi     classic STOI (Taal et al. 2011), pystoi `extended=False`
  si_sdr   scale-invariant SDR (Le Roux et al. 2019), no mean removal, as in sgmse's calc_metrics
  si_sir   SI-SIR from the same decomposition, needs the noisy mixture (noise n = y - s)
  si_sar   SI-SAR from the same decomposition, needs the noisy mixture
  dnsmos_sig, dnsmos_bak, dnsmos_ovrl  DNSMOS P.835, non-intrusive (the estimate alone), optional
           (`pip install -e '.[dnsmos]'`), never in the default set; `dnsmos` names all three
           (benchmark/audio/dnsmos.py)

A metric that cannot be computed gives NaN, never an exception: PESQ finds no speech in the
reference (NoUtterancesError), the estimate is silent (pesq raises a plain ValueError), the audio is
shorter than PESQ's 0.25 s or STOI's 30 frames, or the estimate holds NaN/Inf (a diverged sampler).

`score_many` does not leave such an output out of the mean when the reference defines the metric
(the clean file is finite and not silent, and the metric is defined on the noisy input, or on clean
vs clean without one): dropping it would let a system that outputs silence on hard inputs score a
better mean. It scores that output at the metric's WORST value and marks it `floored`; `summarise`
counts those (n_floored) beside the NaNs it leaves out (n_nan), so neither is hidden. A silent clean
reference stays NaN for input and output: that is the data's fault, not the system's.
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pandas as pd
from pesq import pesq
from pystoi import stoi
from scipy import stats
from threadpoolctl import threadpool_limits

from benchmark.audio import dnsmos
from benchmark.audio.io import SAMPLE_RATE, resample

# A ratio above this is numerically "identical signals": float32 audio resolves errors down to
# about -140 dB, and a cap keeps means finite when an estimate equals its reference exactly.
MAX_RATIO_DB = 100.0
# The threshold `read_audio(allow_silent=False)` uses too.
SILENCE = 1e-6


def _pesq(mode: str) -> Callable[..., float]:
    def metric(clean, estimate, noisy, sr):
        if sr != SAMPLE_RATE:  # the `pesq` package scores wide-band only at 16 kHz
            clean, estimate = resample(clean, sr), resample(estimate, sr)
        try:
            return float(pesq(SAMPLE_RATE, clean, estimate, mode))
        except Exception:  # NoUtterancesError, BufferTooShortError, and ValueError on silence
            return math.nan
    return metric


def _stoi(extended: bool) -> Callable[..., float]:
    def metric(clean, estimate, noisy, sr):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = float(stoi(clean, estimate, sr, extended=extended))
            except Exception:
                return math.nan
        # pystoi warns and returns 1e-5 when fewer than 30 frames (384 ms) hold speech
        if any("Not enough STFT frames" in str(w.message) for w in caught):
            return math.nan
        return value
    return metric


def _ratio_db(num: float, den: float) -> float:
    if not num > 0.0:
        return math.nan
    return 10.0 * math.log10(num / max(den, num * 10.0 ** (-MAX_RATIO_DB / 10.0)))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not `@`: a 1-D BLAS dot under a busy multi-threaded OpenBLAS took 5-50 ms, not 10 µs
    return float(np.einsum("i,i->", a, b))


def si_components(clean: np.ndarray, estimate: np.ndarray, noisy: np.ndarray | None = None):
    """Split the estimate into target, noise and artefact parts.

    s_target = <ŝ,s>/|s|² s and e_noise = <ŝ,n>/|n|² n, each a projection onto one reference, as
    in sgmse's `energy_ratios`; e_art is what is left. Without a mixture e_noise is zero.
    """
    s = np.asarray(clean, dtype=np.float64)
    s_hat = np.asarray(estimate, dtype=np.float64)
    s_target = _dot(s_hat, s) / _dot(s, s) * s
    e_noise = np.zeros_like(s)
    if noisy is not None:
        n = np.asarray(noisy, dtype=np.float64) - s
        if _dot(n, n) > 0.0:
            e_noise = _dot(s_hat, n) / _dot(n, n) * n
    return s_target, e_noise, s_hat - s_target - e_noise


def _energy_ratio(part: str) -> Callable[..., float]:
    def metric(clean, estimate, noisy, sr):
        s_target, e_noise, e_art = si_components(clean, estimate, noisy)
        error = {"sdr": e_noise + e_art, "sir": e_noise, "sar": e_art}[part]
        return _ratio_db(_dot(s_target, s_target), _dot(error, error))
    return metric


# Each callable takes (clean, estimate, noisy or None, sr) and returns a float or NaN.
METRICS: dict[str, Callable[..., float]] = {
    "pesq_wb": _pesq("wb"),
    "pesq_nb": _pesq("nb"),
    "estoi": _stoi(extended=True),
    "stoi": _stoi(extended=False),
    "si_sdr": _energy_ratio("sdr"),
    "si_sir": _energy_ratio("sir"),
    "si_sar": _energy_ratio("sar"),
}
NEEDS_NOISY = frozenset({"si_sir", "si_sar"})
# The score of an output that defeats a metric the reference defines. PESQ's MOS-LQO scale starts
# at 1 (P.862.2; the `pesq` package's nb mode maps to the same floor); STOI is a correlation whose
# practical floor is 0; the ratios get the same cap as on the other side. DNSMOS's P.835 MOS
# scale starts at 1 too.
WORST: dict[str, float] = {"pesq_wb": 1.0, "pesq_nb": 1.0, "estoi": 0.0, "stoi": 0.0,
                           "si_sdr": -MAX_RATIO_DB, "si_sir": -MAX_RATIO_DB, "si_sar": -MAX_RATIO_DB,
                           **{m: 1.0 for m in dnsmos.NAMES}}
DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)
# Optional metrics, scored only when named: their packages are an extra, and DNSMOS costs more
# than the default metrics together (docs/usage.md, 'Scoring any system's output').
OPTIONAL: dict[str, Callable[..., float]] = dict(dnsmos.METRICS)
GROUPS: dict[str, tuple[str, ...]] = {"dnsmos": dnsmos.NAMES}     # one name for several metrics
REGISTRY: dict[str, Callable[..., float]] = {**METRICS, **OPTIONAL}


def metric_names(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """The names with GROUPS expanded and repeats dropped; ValueError on an unknown one. Imports
    nothing, so a configuration naming DNSMOS still loads where its packages are missing."""
    if isinstance(metrics, str):
        metrics = [metrics]
    names = [n for m in metrics for n in GROUPS.get(m, (m,))]
    unknown = [m for m in names if m not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {[*REGISTRY, *GROUPS]}")
    return tuple(dict.fromkeys(names))


def resolve_metrics(metrics: Sequence[str] | None, have_noisy: bool,
                    lacking: str = "") -> tuple[str, ...]:
    """Check metric names (metric_names); None means every default metric the signals allow.

    `lacking` names an utterance without a mixture, for the error message. Raises
    DNSMOSUnavailable (an ImportError) when a DNSMOS metric is asked for and its packages are not
    installed.
    """
    if metrics is None:
        return tuple(m for m in DEFAULT_METRICS if have_noisy or m not in NEEDS_NOISY)
    names = metric_names(metrics)
    if any(m in dnsmos.METRICS for m in names):
        dnsmos.require()
    missing = [m for m in names if m in NEEDS_NOISY]
    if missing and not have_noisy:
        where = f"{lacking}: " if lacking else ""
        raise ValueError(f"{where}{missing} need the noisy mixture, and none was given")
    return names


def _check_signals(name: str, signals: dict[str, np.ndarray | None]) -> None:
    length = None
    for role, x in signals.items():
        if x is None:
            continue
        if np.ndim(x) != 1:
            raise ValueError(f"{name}: {role} must be a 1-D array, got shape {np.shape(x)}")
        if length is None:
            length, first = len(x), role
        elif len(x) != length:
            raise ValueError(f"{name}: {first} has {length} samples but {role} has {len(x)}")


def score_utterance(clean: np.ndarray, estimate: np.ndarray, noisy: np.ndarray | None = None,
                    sr: int = SAMPLE_RATE, metrics: Sequence[str] | None = None,
                    *, name: str = "utterance") -> dict[str, float]:
    """Scores of one estimate against its clean reference; NaN where a metric is undefined.

    Raises ValueError only for caller mistakes: unknown metrics, SI-SIR/SAR without a mixture,
    arrays that are not 1-D or differ in length.
    """
    names = resolve_metrics(metrics, noisy is not None)
    _check_signals(name, {"clean": clean, "estimate": estimate, "noisy": noisy})
    clean = np.asarray(clean, dtype=np.float32)
    estimate = np.asarray(estimate, dtype=np.float32)
    # No reference speech: nothing is defined (pystoi would still return a meaningless ~0.005).
    if not _usable_reference(clean) or not np.all(np.isfinite(estimate)):
        return {m: math.nan for m in names}
    return {m: REGISTRY[m](clean, estimate, noisy, sr) for m in names}


def _usable_reference(clean: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(clean)) and np.any(np.abs(clean) > SILENCE))


def _score_pair(task: tuple) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """(input scores, output scores, metrics whose output was floored) of one utterance."""
    name, clean, noisy, enhanced, sr, names, known = task
    if noisy is None:
        scores_in = {m: math.nan for m in names}
    elif known is not None and all(m in known for m in names):
        scores_in = {m: float(known[m]) for m in names}         # the input, scored by an earlier cell
    else:
        scores_in = score_utterance(clean, noisy, noisy, sr, names, name=name)
    scores_out = score_utterance(clean, enhanced, noisy, sr, names, name=name)
    floored = []
    clean = np.asarray(clean, dtype=np.float32)
    if _usable_reference(clean):
        for m in names:
            if not math.isnan(scores_out[m]):
                continue
            # the yardstick: is the metric defined on this utterance at all (not too short, speech
            # that PESQ's detector finds)? Without a mixture, clean against itself answers that.
            if noisy is not None:
                defined = not math.isnan(scores_in[m])
            else:
                defined = not math.isnan(REGISTRY[m](clean, clean, None, sr))
            if defined:
                scores_out[m] = WORST[m]
                floored.append(m)
    return scores_in, scores_out, floored


# Set just before a pool forks, so workers inherit the audio instead of receiving it pickled.
_TASKS: list[tuple] = []


def _score_task(index: int) -> tuple[dict[str, float], dict[str, float], list[str]]:
    return _score_pair(_TASKS[index])


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run(tasks: list[tuple], jobs: int) -> list[tuple[dict[str, float], dict[str, float], list[str]]]:
    if jobs == 1:
        return [_score_pair(t) for t in tasks]
    # fork: workers start at once with the audio already in memory. The caller's threads (torch,
    # MLflow) are not copied, and the workers only run numpy, pesq and pystoi (and onnxruntime,
    # single-threaded, with a session of their own: dnsmos.py), so no lock those threads might
    # hold is ever needed in a worker.
    # Small chunks (about 30 per worker): passing an index and a few floats back costs well under
    # a millisecond, while the last chunk to finish is time another core sits idle.
    chunk = max(1, math.ceil(len(tasks) / (32 * jobs)))
    global _TASKS
    _TASKS = tasks
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            return list(pool.map(_score_task, range(len(tasks)), chunksize=chunk))
    finally:
        _TASKS = []


def score_many(items: Iterable[dict], *, metrics: Sequence[str] | None = None,
               jobs: int | None = None, sr: int = SAMPLE_RATE,
               known_inputs: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Score the noisy input and the enhanced output of each item against its clean reference.

    items: dicts with name, clean, noisy (may be None) and enhanced, float arrays at `sr`.
    Returns one row per utterance × metric: [name, metric, input, output, delta = output - input,
    floored]; `floored` marks an output scored at WORST[metric] because the metric was undefined on
    it but defined on the reference (see the module docstring).
    jobs=None uses every available core; jobs=1 scores in this process.
    known_inputs: name -> {metric: input score} already computed (the input does not depend on the
    system, so every cell of a study shares it); an item with all its metrics there is not re-scored.
    """
    items = list(items)
    lacking = next((it["name"] for it in items if it.get("noisy") is None), "")
    names = resolve_metrics(metrics, not lacking, lacking)
    # Check every item here, so that a bad one fails before minutes of scoring, naming itself.
    for it in items:
        _check_signals(it["name"], {"clean": it["clean"], "enhanced": it["enhanced"],
                                    "noisy": it.get("noisy")})
    known_inputs = known_inputs or {}
    tasks = [(it["name"], it["clean"], it.get("noisy"), it["enhanced"], sr, names, known_inputs.get(it["name"]))
             for it in items]
    jobs = min(default_jobs() if jobs is None else int(jobs), max(len(tasks), 1))
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    # One BLAS thread: pystoi's small matrix products ran 4-5x slower with OpenBLAS threads
    # competing for busy cores, and a pool of processes is already the parallelism.
    with threadpool_limits(limits=1, user_api="blas"):
        results = _run(tasks, jobs)
    rows = [{"name": t[0], "metric": m, "input": s_in[m], "output": s_out[m], "floored": m in fl}
            for t, (s_in, s_out, fl) in zip(tasks, results) for m in names]
    table = pd.DataFrame(rows, columns=["name", "metric", "input", "output", "floored"])
    table["input"] = table["input"].astype(float)
    table["output"] = table["output"].astype(float)
    table["delta"] = table["output"] - table["input"]
    return table[["name", "metric", "input", "output", "delta", "floored"]]


def mean_ci95(values: np.ndarray) -> tuple[float, float, int, int]:
    """(mean, Student-t 95% half-width, non-NaN count, NaN count) of one sample."""
    values = np.asarray(values, dtype=float)
    ok = values[~np.isnan(values)]
    n = len(ok)
    mean = float(ok.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, n, len(values) - n
    half = float(stats.t.ppf(0.975, n - 1) * ok.std(ddof=1) / math.sqrt(n))
    return mean, half, n, len(values) - n


def summarise(table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Mean and 95% confidence interval per metric for input, output and delta.

    Columns: [*by, metric, which, mean, ci95, n, n_nan, n_floored]; `by` adds grouping columns (a
    study's cell, a system) in front. Metrics keep the order they have in the table. n counts the
    floored outputs too (they are in the mean); n_floored counts them among the n values of output
    and delta, and is 0 for input and for a table without a `floored` column (scored before it).
    """
    keys = [*by, "metric"]
    rows = []
    for key, group in table.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        # eq(True): rows concatenated from an older table hold NaN there, which astype(bool) calls True
        floored = group["floored"].eq(True) if "floored" in group else pd.Series(False, group.index)
        for which in ("input", "output", "delta"):
            mean, half, n, n_nan = mean_ci95(group[which].to_numpy())
            n_floored = 0 if which == "input" else int((floored & group[which].notna()).sum())
            rows.append({**dict(zip(keys, key)), "which": which, "mean": mean, "ci95": half,
                         "n": n, "n_nan": n_nan, "n_floored": n_floored})
    return pd.DataFrame(rows, columns=[*keys, "which", "mean", "ci95", "n", "n_nan", "n_floored"])
