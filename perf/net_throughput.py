"""Training throughput of candidate sizes of the NCSN++ architecture on this CPU.

One step = forward + MSE backward + Adam, batch B of crops [4, F, T]; reports examples/s (median
step after warm-up) in fp32 and with bf16 autocast, all measured in this run, plus ratios to the
first candidate. Used to size the "small" preset (benchmark/nets/__init__.py).

    .venv/bin/python perf/net_throughput.py [--threads 2] [--seconds 1.5] [--batch 8]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from benchmark.nets import build_net, count_parameters

HOP = 128
SAMPLE_RATE = 16_000

# name → overrides of the "ncsnpp_m" preset (same architecture, smaller).
CANDIDATES = {
    "small (preset)": dict(base="small"),
    "b16 m1222": dict(base_channels=16, channel_mult=(1, 2, 2, 2)),
    "b16 m1248 no-prog": dict(base_channels=16, channel_mult=(1, 2, 4, 8), encoder_type="standard",
                              decoder_type="standard"),
    "b16 m1244": dict(base_channels=16, channel_mult=(1, 2, 4, 4)),
    "b24 m1222": dict(base_channels=24, channel_mult=(1, 2, 2, 2)),
    "b32 m1222": dict(base_channels=32, channel_mult=(1, 2, 2, 2)),
    "b32 m1248": dict(base_channels=32, channel_mult=(1, 2, 4, 8)),
}


def make(spec: dict) -> torch.nn.Module:
    spec = dict(spec)
    return build_net(spec.pop("base", "ncsnpp_m"), **spec)


def examples_per_s(net, batch: int, freqs: int, frames: int, bf16: bool, warmup: int, steps: int) -> float:
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 4, freqs, frames)
    target = torch.randn(batch, 2, freqs, frames)
    c = torch.randn(batch)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            out = net(x, c)
        loss = (out.float() - target).square().mean()  # loss in fp32, as a trainer would
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.5, help="crop length")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--freqs", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # Frames of a centred STFT right-padded to whole hops: 1 + ceil(samples / hop).
    frames = 1 + -(-round(args.seconds * SAMPLE_RATE) // HOP)
    print(f"threads {args.threads}, batch {args.batch}, crop {args.seconds} s = {args.freqs}×{frames}, "
          f"median of {args.steps} steps after {args.warmup} warm-up")
    print(f"{'candidate':<20} {'params':>9} {'fp32 ex/s':>10} {'bf16 ex/s':>10} {'bf16/fp32':>9} "
          f"{'bf16 vs 1st':>11}")
    first = None
    for name, spec in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        net = make(spec)
        fp32 = examples_per_s(net, args.batch, args.freqs, frames, False, args.warmup, args.steps)
        bf16 = examples_per_s(net, args.batch, args.freqs, frames, True, args.warmup, args.steps)
        first = first or bf16
        print(f"{name:<20} {count_parameters(net) / 1e6:>8.2f}M {fp32:>10.2f} {bf16:>10.2f} "
              f"{bf16 / fp32:>9.2f} {bf16 / first:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
