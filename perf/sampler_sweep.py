"""Post hoc: one trained model under several samplers, on the same utterances and noise draws.

    python perf/sampler_sweep.py results/models/<hash> \
        '{"plain": ["edm", {"steps": 3, "sigma_start": 0.25}],
          "matched": ["edm", {"steps": 3, "sigma_start": 0.25, "start": "matched", "sigma_data": 0.1}]}' \
        --splits valid,real --utterances 120

Each sampler is [registry name, settings] (benchmark/diffusion/samplers.py), built on the model's
own SDE; "config" adds the sampler of the model's config. Every sampler starts from the same seed,
so differences are the samplers'. Prints the noisy input and one line per sampler and split
(PESQ-WB, ESTOI, SI-SDR means). How the plain and matched starts were compared (docs/studies.md).
"""
import argparse
import json

import torch
from omegaconf import OmegaConf

from benchmark.audio.metrics import score_many
from benchmark.config import fresh_model, sampler_from_config
from benchmark.data import load_split
from benchmark.diffusion.samplers import build_sampler
from benchmark.enhance import enhance_waveform
from benchmark.fit import load_weights

METRICS = ("pesq_wb", "estoi", "si_sdr")


def mean_scores(model, frontend, items, sampler, device, jobs: int = 1):
    """(input, output) means of METRICS over `items`, each enhanced with noise drawn from seed 0, so
    every sampler (and every step of a learning curve) sees the same draws."""
    gen = torch.Generator().manual_seed(0)
    enhanced = [dict(name=it["name"], clean=it["clean"], noisy=it["noisy"],
                     enhanced=enhance_waveform(model, frontend, it["noisy"], sampler, device=device,
                                               generator=gen).audio) for it in items]
    by_metric = score_many(enhanced, metrics=METRICS, jobs=jobs).groupby("metric")
    return by_metric["input"].mean(), by_metric["output"].mean()


def _line(folder, split, label, means) -> str:
    return f"{folder}  {split:6s} {label:12s} " + "  ".join(f"{k} {means[k]:.3f}" for k in METRICS)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", help="a model folder (config.yaml and last.pt or model.pt)")
    p.add_argument("samplers", help='JSON: {"label": ["name", {settings}], ...}; "config": the config\'s own')
    p.add_argument("--splits", default="valid")
    p.add_argument("--utterances", type=int, default=120)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = OmegaConf.load(f"{a.model}/config.yaml")
    model, frontend, device = fresh_model(cfg)
    load_weights(model, a.model, "last")
    wanted = json.loads(a.samplers)
    samplers = {k: (sampler_from_config(cfg, model) if k == "config" else build_sampler(v[0], model.sde, **v[1]))
                for k, v in wanted.items()}
    for split in a.splits.split(","):
        data = load_split(cfg.data, split)
        items = [data[i] for i in range(min(a.utterances, len(data)))]
        for n, (label, sampler) in enumerate(samplers.items()):
            noisy, enhanced = mean_scores(model, frontend, items, sampler, device)
            if n == 0:
                print(_line(a.model, split, "input", noisy), flush=True)
            print(_line(a.model, split, label, enhanced), flush=True)


if __name__ == "__main__":
    main()
