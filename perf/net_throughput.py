"""Training throughput of candidate sizes of the NCSN++ architecture on this CPU.

One step = forward + MSE backward + Adam on a batch of B crops [4, F, T], in fp32 and with bf16
autocast. Candidates are measured round-robin (one step each per round), so load from other
processes hits them alike and the ratios between them stay meaningful; examples/s come from the
fastest step of each (the least disturbed), with the median alongside. Used to size the "small"
preset in benchmark/nets/__init__.py. On a machine shared with other jobs, run with --threads 1
and compare the cpu columns; 2-thread wall figures are only trustworthy on an idle machine.

    .venv/bin/python perf/net_throughput.py [--threads 2] [--seconds 1.5] [--rounds 5] [--only NAME ...]
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

# name → overrides of the "small" preset (same architecture throughout).
CANDIDATES = {
    "small (preset)": {},
    "b16 m1248": dict(base_channels=16, channel_mult=(1, 2, 4, 8)),
    "b16 m1248 no-prog": dict(base_channels=16, channel_mult=(1, 2, 4, 8), encoder_type="standard",
                              decoder_type="standard"),
    "b16 m1244": dict(base_channels=16, channel_mult=(1, 2, 4, 4)),
    "b16 m1222": dict(base_channels=16, channel_mult=(1, 2, 2, 2)),
    "b24 m1222": dict(base_channels=24, channel_mult=(1, 2, 2, 2)),
    "b32 m1222": dict(base_channels=32, channel_mult=(1, 2, 2, 2)),
    # The upsampling block into the full-resolution level runs at the second level's width, so
    # keeping the first two levels narrow is what makes a net cheap at 256 bins.
    "b16 m1124": dict(base_channels=16, channel_mult=(1, 1, 2, 4)),
    "b16 m1128": dict(base_channels=16, channel_mult=(1, 1, 2, 8)),
    "b16 m1148": dict(base_channels=16, channel_mult=(1, 1, 4, 8)),
    "b16 m11244": dict(base_channels=16, channel_mult=(1, 1, 2, 4, 4)),
    "b16 m11248": dict(base_channels=16, channel_mult=(1, 1, 2, 4, 8)),
    "b8 m1248": dict(base_channels=8, channel_mult=(1, 2, 4, 8)),
    "b8 m12816": dict(base_channels=8, channel_mult=(1, 2, 8, 16)),
    "b8 m124816": dict(base_channels=8, channel_mult=(1, 2, 4, 8, 16)),
}


def make(overrides: dict) -> torch.nn.Module:
    return build_net("small", **overrides)


class Stepper:
    """One training setup (net, optimiser, fixed batch) that can take timed steps."""

    def __init__(self, net, batch: int, freqs: int, frames: int, bf16: bool):
        self.net, self.bf16 = net, bf16
        self.opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        self.x = torch.randn(batch, 4, freqs, frames)
        self.target = torch.randn(batch, 2, freqs, frames)
        self.c = torch.randn(batch)
        self.times: list[float] = []
        self.cpu: list[float] = []

    def step(self, record: bool = True):
        t0, c0 = time.perf_counter(), time.process_time()
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with ctx:
            out = self.net(self.x, self.c)
        loss = (out.float() - self.target).square().mean()  # loss in fp32, as a trainer would
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if record:
            self.times.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.5, help="crop length")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--freqs", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-fp32", action="store_true", help="measure bf16 autocast only")
    ap.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # Frames of a centred STFT right-padded to whole hops: 1 + ceil(samples / hop).
    frames = 1 + -(-round(args.seconds * SAMPLE_RATE) // HOP)
    names = [n for n in CANDIDATES if not args.only or n in args.only]
    steppers = {}
    for name in names:
        net = make(CANDIDATES[name])
        for bf16 in ([True] if args.no_fp32 else [False, True]):
            steppers[name, bf16] = Stepper(net, args.batch, args.freqs, frames, bf16)
    for s in steppers.values():
        s.step(record=False)  # warm-up: allocator, oneDNN primitive caches
    for _ in range(args.rounds):
        for s in steppers.values():
            s.step()

    print(f"threads {args.threads}, batch {args.batch}, crop {args.seconds} s = {args.freqs}x{frames}, "
          f"{args.rounds} interleaved rounds")
    print("wall = examples/s from the fastest step; cpu = examples per CPU-second of this process "
          "(median step), which other load barely moves: compare candidates on it")
    print(f"{'candidate':<18} {'params':>7} {'fp32 wall':>9} {'fp32 cpu':>8} {'bf16 wall':>9} "
          f"{'bf16 cpu':>8} {'bf16/fp32':>9} {'vs 1st':>6}")
    first = None
    for name in names:
        cols = []
        for bf16 in (False, True):
            st = steppers.get((name, bf16))
            if st is None:
                cols.append((float("nan"), float("nan")))
            else:
                cols.append((args.batch / min(st.times), args.batch / statistics.median(st.cpu)))
        (w32, c32), (w16, c16) = cols
        first = first or c16
        params = count_parameters(steppers[name, True].net) / 1e6
        print(f"{name:<18} {params:>6.2f}M {w32:>9.2f} {c32:>8.2f} {w16:>9.2f} {c16:>8.2f} "
              f"{c16 / c32:>9.2f} {c16 / first:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
