"""Inference in the trainer's precision against fp32, on one trained model, in one run.

    python perf/inference_precision.py MODEL_DIR [--utterances 40] [--split test] [--batch 8]

Enhances the same utterances (same seeds) with fp32 at batch 1 (the old path) and with the
trainer's precision (bf16 autocast where the CPU has it), and prints the real-time factor of each,
their ratio, and the paired difference of PESQ-WB / ESTOI / SI-SDR with its 95% CI beside the
fp32 cell's own CI: the new path must move the metrics by much less than that CI. A last row
times `--batch` utterances enhanced in one call (padded), per utterance, to show whether batching
pays on this CPU.
"""
import argparse
import time

import numpy as np
import torch

from benchmark.audio.metrics import mean_ci95, score_many
from benchmark.config import sampler_from_config
from benchmark.data import load_split
from benchmark.enhance import enhance_waveform
from benchmark.runtime import autocast, inference_precision, set_threads
from benchmark.store import load_for_inference

METRICS = ["pesq_wb", "estoi", "si_sdr"]


def run(loaded, sampler, items, precision):
    gen = torch.Generator().manual_seed(0)
    out, seconds = [], 0.0
    for it in items:
        res = enhance_waveform(loaded.model, loaded.frontend, it["noisy"], sampler, device=loaded.device,
                               generator=gen, precision=precision)
        seconds += res.seconds
        out.append({**it, "enhanced": res.audio})
    audio = sum(len(it["noisy"]) for it in items) / 16000
    return out, seconds / audio


def batched_rtf(loaded, sampler, items, precision, batch):
    """One call on `batch` utterances padded to the longest: seconds per second of audio."""
    fe = loaded.frontend
    wavs = [torch.as_tensor(it["noisy"]) / float(np.abs(it["noisy"]).max()) for it in items[:batch]]
    n = max(len(w) for w in wavs)
    x = torch.stack([torch.nn.functional.pad(w, (0, n - len(w))) for w in wavs])
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad(), autocast(precision, loaded.device):
        loaded.model.enhance(fe.stft(x), sampler, gen)
    return (time.perf_counter() - t0) / (sum(len(w) for w in wavs) / 16000)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--utterances", type=int, default=40)
    p.add_argument("--split", default="test")
    p.add_argument("--batch", type=int, default=8)
    a = p.parse_args()
    set_threads(None)
    loaded = load_for_inference(a.model)
    cfg = loaded.config
    sampler = sampler_from_config(cfg, loaded.model)
    data = load_split(cfg.data, a.split)
    items = [{k: data[i][k] for k in ("name", "clean", "noisy")} for i in range(min(a.utterances, len(data)))]
    new = inference_precision(cfg, loaded.device)
    run(loaded, sampler, items[:2], new)                           # warm-up
    ref, rtf_ref = run(loaded, sampler, items, "fp32")
    out, rtf_new = run(loaded, sampler, items, new)
    a_scores = score_many(ref, metrics=METRICS, jobs=None).set_index(["name", "metric"])
    b_scores = score_many(out, metrics=METRICS, jobs=None).set_index(["name", "metric"])
    print(f"model {a.model}, {len(items)} utterances of {a.split}, {torch.get_num_threads()} threads")
    print(f"fp32, batch 1      : RTF {rtf_ref:.4f}")
    print(f"{new}, batch 1      : RTF {rtf_new:.4f}   fp32/{new} = {rtf_ref / rtf_new:.2f}x")
    for prec in ("fp32", new):
        print(f"{prec}, batch {a.batch:<2d} (one call): RTF {batched_rtf(loaded, sampler, items, prec, a.batch):.4f}")
    print(f"{'metric':8s} {'fp32 mean ± CI':>18s} {new + ' − fp32 (paired) ± CI':>26s}")
    for m in METRICS:
        base = a_scores.xs(m, level="metric")["output"]
        diff = (b_scores.xs(m, level="metric")["output"] - base).to_numpy()
        mean, ci, *_ = mean_ci95(base.to_numpy())
        dmean, dci, *_ = mean_ci95(diff)
        print(f"{m:8s} {mean:10.3f} ± {ci:.3f} {dmean:+14.4f} ± {dci:.4f}")


if __name__ == "__main__":
    main()
