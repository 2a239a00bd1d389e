"""Learning curve: validation metrics against training minutes, for several samplers at once.

    python perf/learning_curve.py [--minutes 12] [--val-every 300] [--val-utterances 20] [key=value …]

Trains one configuration (the embedded default unless overridden, e.g. model.kind=predictive or
frontend.n_fft=256) and, every --val-every steps, enhances the first validation utterances with the
EMA weights under each sampler below and scores them. The first row is the noisy input. Prints one
table; the numbers are what issue 7's recipe is tuned on.
"""
import argparse
import tempfile
import time

import numpy as np
import torch

from benchmark.audio.metrics import score_many
from benchmark.checkpoints import fresh_model
from benchmark.config import compose
from benchmark.data import load_split
from benchmark.diffusion.samplers import build_sampler
from benchmark.enhance import enhance_waveform
from benchmark.train import TrainerSettings, fit

SAMPLERS = {
    "one step D(σ_max)": ("euler", dict(steps=1, scaling="none")),
    "Heun N=8 σ-space, Euler 1st": ("edm", dict(steps=8, churn=0, scaling="none", first_step="euler")),
    "Heun N=8 x-space (brever)": ("edm", dict(steps=8, churn=0)),
    "Heun N=4 σ-space from t=0.5": ("edm", dict(steps=4, churn=0, scaling="none", t_start=0.5)),
}
METRICS = ("pesq_wb", "estoi", "si_sdr")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=12)
    p.add_argument("--val-every", type=int, default=300)
    p.add_argument("--val-utterances", type=int, default=20)
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    cfg = compose(a.overrides + ["trainer.max_steps=null", f"trainer.max_minutes={a.minutes}",
                                 f"trainer.val_every={a.val_every}", "trainer.checkpoint_every=100000"])
    model, frontend, device = fresh_model(cfg)
    valid = load_split(cfg.data, "valid")
    items = [valid[i] for i in range(min(a.val_utterances, len(valid)))]
    samplers = ({"predictive": None} if cfg.model.kind == "predictive"
                else {k: build_sampler(n, model.sde, **s) for k, (n, s) in SAMPLERS.items()})
    t0 = time.perf_counter()
    rows = []

    def validate(m, step):
        train_min = (time.perf_counter() - t0) / 60
        for label, sampler in samplers.items():
            gen = torch.Generator().manual_seed(0)
            enh = [dict(name=it["name"], clean=it["clean"], noisy=it["noisy"],
                        enhanced=enhance_waveform(m, frontend, it["noisy"], sampler, device=device, generator=gen).audio)
                   for it in items]
            table = score_many(enh, metrics=METRICS, jobs=2)
            out = table.groupby("metric")["output"].mean()
            if not rows:
                inp = table.groupby("metric")["input"].mean()
                rows.append(("—", 0, "noisy input", *[inp[k] for k in METRICS]))
            rows.append((f"{train_min:.1f}", step, label, *[out[k] for k in METRICS]))
            print(f"{train_min:6.1f} min  step {step:5d}  {label:30s} " +
                  "  ".join(f"{k} {out[k]:.3f}" for k in METRICS), flush=True)
        return {"val_score": float(np.nan)}

    with tempfile.TemporaryDirectory() as out:
        fit(model, frontend, load_split(cfg.data, "train"), TrainerSettings.from_config(cfg.trainer), out,
            seed=int(cfg.seed), device=device, validate=validate, progress=False)
    print(f"\n{'min':>5s} {'step':>5s}  {'system':30s} " + " ".join(f"{k:>8s}" for k in METRICS))
    for r in rows:
        print(f"{r[0]:>5s} {r[1]:5d}  {r[2]:30s} " + " ".join(f"{v:8.3f}" for v in r[3:]))


if __name__ == "__main__":
    main()
