"""Sampler overhead: sampling wall time ÷ (NFE × one denoiser call), per sampler, one run.

    python perf/sampler_overhead.py [--net small] [--seconds 4] [--steps 8] [--repeats 3]

A ratio near 1 means the sampler's own arithmetic (SDE coefficients, noise draws, Heun combinations)
costs nothing next to the network; the target is ≤ 1.05. Medians of --repeats runs, same process.
"""
import argparse
import statistics
import time

import torch

from benchmark.diffusion.preconditioning import Denoiser, Preconditioning
from benchmark.diffusion.samplers import build_sampler, sample
from benchmark.diffusion.sdes import build_sde
from benchmark.nets import build_net


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--net", default="small")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    sde = build_sde("oucosine", stiffness=0.0)
    denoiser = Denoiser(build_net(a.net).eval(), sde, Preconditioning.from_config("edm"))
    frames = int(a.seconds * 16000 / 128) + 1
    y = 0.1 * torch.randn(1, 256, frames, dtype=torch.complex64)
    x = 0.1 * torch.randn_like(y)
    sigma, t = torch.tensor(0.5), torch.tensor(0.5)

    def one_call():
        with torch.no_grad():
            denoiser(x, y, sigma, t)

    for _ in range(2):
        one_call()
    call = statistics.median(_timed(one_call) for _ in range(5 * a.repeats))
    print(f"net={a.net}, {a.seconds} s utterance ({frames} frames), {a.threads} threads: "
          f"one denoiser call {call * 1000:.1f} ms")
    print(f"{'sampler':34s} {'NFE':>4s} {'wall s':>8s} {'ratio':>6s}")
    cases = [("pc", dict(steps=a.steps)), ("edm", dict(steps=a.steps, churn=0)),
             ("edm", dict(steps=a.steps)), ("edm", dict(steps=a.steps, scaling="none")),
             ("euler", dict(steps=a.steps))]
    for name, settings in cases:
        sampler = build_sampler(name, sde, **settings)
        walls, nfe = [], 0
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            nfe = sample(sampler, denoiser, sde, y).nfe
            walls.append(time.perf_counter() - t0)
        wall = statistics.median(walls)
        label = name + " " + " ".join(f"{k}={v}" for k, v in settings.items())
        print(f"{label:34s} {nfe:4d} {wall:8.2f} {wall / (nfe * call):6.3f}")


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
