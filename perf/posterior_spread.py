"""Post hoc: how much of a sampler's loss against the one-step denoiser is the spread of its samples.

    python perf/posterior_spread.py /work/runs/rec/model --split test --utterances 60 --samples 4

A multi-step walk draws one sample of the model's posterior p(x0 | y); the one-step denoiser
D(σ_max) is (nearly) that posterior's mean. Over K draws of the walk per utterance, the squared
error of one draw splits exactly as

    mean_k |x̂_k − x0|²  =  |x̄ − x0|²  +  mean_k |x̂_k − x̄|²,        x̄ = mean_k x̂_k

(bias of the walk's own mean, plus its spread). A model that knows little has a wide posterior,
and its samples pay for the width twice over the mean (the spread term equals the mean's error
when the posterior is right and Gaussian). So if the average of K walks scores near D(σ_max) and
far above one walk, the walk loses to the spread of a weak model's posterior, which only a
stronger model narrows; if the average stays low, the walk is biased (an error of the sampler or of
the denoiser away from σ_max), which a sampler or noise-level change could mend.

Prints, on the first --utterances of --split: the noisy input, one walk (mean over the K draws),
the average of the K walks' waveforms, D(σ_max), and the share of one walk's waveform error that
is spread (with K draws the spread is scaled by K/(K − 1), an unbiased estimate).
"""
import argparse

import numpy as np
import torch
from learning_curve import SAMPLERS  # perf/, on the path when run as a script
from omegaconf import OmegaConf
from sampler_sweep import METRICS, mean_scores

from benchmark.audio.metrics import score_many
from benchmark.config import fresh_model, sampler_from_config
from benchmark.data import load_split
from benchmark.diffusion.samplers import build_sampler
from benchmark.enhance import enhance_waveform
from benchmark.fit import load_weights

ONE_STEP = "one step D(σ_max)"


def walks(model, frontend, items, sampler, device, samples):
    """[K][utterance] enhanced waveforms, draw k seeded k (the same seeds for every model)."""
    out = []
    for k in range(samples):
        gen = torch.Generator().manual_seed(k)
        out.append([enhance_waveform(model, frontend, it["noisy"], sampler, device=device, generator=gen).audio
                    for it in items])
    return out


def means(items, enhanced, jobs):
    rows = score_many([dict(name=it["name"], clean=it["clean"], noisy=it["noisy"], enhanced=e)
                       for it, e in zip(items, enhanced)], metrics=METRICS, jobs=jobs).groupby("metric")
    return rows["input"].mean(), rows["output"].mean()


def spread_share(items, draws):
    """Mean over utterances of (unbiased spread) / (one draw's squared error), in the waveform."""
    k = len(draws)
    shares = []
    for i, it in enumerate(items):
        x = np.stack([d[i] for d in draws])
        err = ((x - np.asarray(it["clean"])[None]) ** 2).sum(axis=1).mean()
        spread = ((x - x.mean(axis=0)) ** 2).sum(axis=1).mean() * k / (k - 1)
        shares.append(spread / max(err, 1e-12))
    return float(np.mean(shares))


def _line(label, m):
    return f"{label:28s} " + "  ".join(f"{k} {m[k]:.3f}" for k in METRICS)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", help="a model folder (config.yaml and last.pt or model.pt; learning_curve.py --out)")
    p.add_argument("--split", default="test")
    p.add_argument("--utterances", type=int, default=60)
    p.add_argument("--samples", type=int, default=4, help="walks per utterance (K ≥ 2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--jobs", type=int, default=1, help="metric processes")
    a = p.parse_args()
    if a.samples < 2:
        p.error("--samples must be at least 2: the spread needs two draws")
    torch.set_num_threads(a.threads)
    cfg = OmegaConf.load(f"{a.model}/config.yaml")
    model, frontend, device = fresh_model(cfg)
    load_weights(model, a.model, "last")
    data = load_split(cfg.data, a.split)
    items = [data[i] for i in range(min(a.utterances, len(data)))]
    sampler = sampler_from_config(cfg, model)
    draws = walks(model, frontend, items, sampler, device, a.samples)
    scored = [means(items, d, a.jobs) for d in draws]
    noisy, singles = scored[0][0], [out for _, out in scored]
    print(f"{a.model}: {a.split}, {len(items)} utterances, {a.samples} walks each "
          f"({cfg.sampler.name}, N = {cfg.sampler.steps})")
    print(_line("input", noisy))
    print(_line("one walk (mean of draws)", sum(singles) / len(singles)))
    averaged = [np.mean([d[i] for d in draws], axis=0) for i in range(len(items))]
    print(_line(f"average of {a.samples} walks", means(items, averaged, a.jobs)[1]))
    name, settings = SAMPLERS[ONE_STEP]
    one_step = build_sampler(name, model.sde, **settings)
    print(_line(ONE_STEP, mean_scores(model, frontend, items, one_step, device, a.jobs)[1]))
    print(f"spread share of one walk's waveform error: {spread_share(items, draws):.2f}")


if __name__ == "__main__":
    main()
