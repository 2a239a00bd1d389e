"""Post hoc: a longer weight average than the trainer's EMA, from checkpoints kept along a run.

    python perf/snapshot_average.py SNAP1.pt SNAP2.pt ... --out DIR --config RUN/config.yaml
    python perf/sampler_sweep.py DIR '{}' --splits test --utterances 200      # "config": its sampler

The trainer keeps one EMA (decay 0.999, a half-life of about 700 steps). Whether a longer average
would give a better model is the question EDM2 (Karras et al., 2024) answers with post-hoc EMA
reconstruction; the coarse form here averages the EMA weights of checkpoints copied every 250 steps
over the last part of a run (uniformly: a box of that length, convolved with the EMA's own tail).
Writes DIR/last.pt (the newest snapshot's checkpoint with the averaged EMA weights) and
DIR/config.yaml, so any perf script that evaluates a model folder reads it.
"""
import argparse
import shutil
from pathlib import Path

import torch


def average(paths: list[Path]) -> dict:
    """The newest checkpoint of `paths` (by step) with its EMA weights replaced by their mean."""
    states = sorted((torch.load(p, map_location="cpu", weights_only=False) for p in paths),
                    key=lambda s: s["step"])
    steps = [s["step"] for s in states]
    if len(set(steps)) != len(steps):
        raise SystemExit(f"two snapshots share a step ({steps}): give each checkpoint once")
    shadows = [s["ema"]["shadow"] for s in states]
    if len({len(s) for s in shadows}) != 1:
        raise SystemExit("the snapshots hold EMA weights of different models")
    out = dict(states[-1])
    out["ema"] = {**states[-1]["ema"], "shadow": [torch.stack(ts).float().mean(0).to(ts[0].dtype)
                                                  for ts in zip(*shadows)]}
    out["averaged_steps"] = steps
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("snapshots", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, required=True, help="the run's config.yaml")
    a = p.parse_args()
    state = average(a.snapshots)
    a.out.mkdir(parents=True, exist_ok=True)
    torch.save(state, a.out / "last.pt")
    shutil.copy(a.config, a.out / "config.yaml")
    print(f"{a.out}: EMA weights averaged over steps {state['averaged_steps'][0]}–{state['averaged_steps'][-1]} "
          f"({len(state['averaged_steps'])} snapshots)")


if __name__ == "__main__":
    main()
