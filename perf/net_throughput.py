"""Training throughput of candidate sizes of the NCSN++ architecture on this CPU.

One step = forward + MSE backward + Adam on a batch of B crops [4, F, T], in fp32 and with bf16
autocast. Candidates are measured round-robin (one step each per round), so load from other
processes hits them alike and the ratios between them stay meaningful. The last row is a plain
U-Net like the one in cpu-prototype.md (1.73 M parameters, 15.7 examples/s with bf16 on an idle
2-core machine at 1-2 s crops), so "vs plain" converts a candidate's figure into an expected
2-thread training rate. Used to size the "small" preset in benchmark/nets/__init__.py. On a machine
shared with other jobs, run with --threads 1
and compare the cpu columns; 2-thread wall figures are only trustworthy on an idle machine.

    .venv/bin/python perf/net_throughput.py [--threads 2] [--seconds 1.5] [--rounds 5] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

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


PLAIN = "plain U-Net (proto)"
PLAIN_IDLE_RATE = 15.7  # cpu-prototype.md, bf16, batch 8, crops of U(1, 2) s, 2 threads


class _PlainBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(min(8, cin // 4), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(min(8, cout // 4), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.c1(F.silu(self.n1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class PlainUNet(nn.Module):
    """Reference for calibration only: the prototype's plain U-Net as cpu-prototype.md describes it
    (one block per level, stride-2 conv down, nearest-upsample + conv up, concatenated skips, no
    attention, no FIR, no progressive paths); 1,732,066 parameters at base 16, mult (1,2,4,8)."""

    def __init__(self, base: int = 16, mult=(1, 2, 4, 8)):
        super().__init__()
        chans, emb = [base * m for m in mult], 4 * base
        self.register_buffer("freqs", torch.randn(base) * 16)
        self.mlp = nn.Sequential(nn.Linear(2 * base, emb), nn.SiLU(), nn.Linear(emb, emb), nn.SiLU())
        self.inp = nn.Conv2d(4, base, 3, padding=1)
        self.enc, self.down, self.up, self.dec = (nn.ModuleList() for _ in range(4))
        ch = base
        for i, c in enumerate(chans):
            self.enc.append(_PlainBlock(ch, c, emb))
            ch = c
            if i < len(chans) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = nn.ModuleList([_PlainBlock(ch, ch, emb), _PlainBlock(ch, ch, emb)])
        for i in reversed(range(len(chans))):
            if i < len(chans) - 1:
                self.up.append(nn.Conv2d(ch, chans[i], 3, padding=1))
                ch = chans[i]
            self.dec.append(_PlainBlock(ch + chans[i], chans[i], emb))
        self.out = nn.Sequential(nn.GroupNorm(4, ch), nn.SiLU(), nn.Conv2d(ch, 2, 3, padding=1))

    def forward(self, x, c):
        phase = 2 * math.pi * torch.outer(c, self.freqs)
        e = self.mlp(torch.cat([phase.sin(), phase.cos()], -1))
        h, skips, sizes = self.inp(x), [], []
        for i, blk in enumerate(self.enc):
            h = blk(h, e)
            skips.append(h)
            if i < len(self.down):
                sizes.append(h.shape[-2:])
                h = self.down[i](h)
        for blk in self.mid:
            h = blk(h, e)
        for i, blk in enumerate(self.dec):
            if i:
                h = self.up[i - 1](F.interpolate(h, size=sizes.pop(), mode="nearest"))
            h = blk(torch.cat([h, skips.pop()], 1), e)
        return self.out(h)


def make(name: str) -> torch.nn.Module:
    return PlainUNet() if name == PLAIN else build_net("small", **CANDIDATES[name])


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
    names = [n for n in [*CANDIDATES, PLAIN] if not args.only or n in args.only or n == PLAIN]
    steppers = {}
    for name in names:
        net = make(name)
        for bf16 in ([True] if args.no_fp32 else [False, True]):
            steppers[name, bf16] = Stepper(net, args.batch, args.freqs, frames, bf16)
    for s in steppers.values():
        s.step(record=False)  # warm-up: allocator, oneDNN primitive caches
    for _ in range(args.rounds):
        for s in steppers.values():
            s.step()

    rates = {}
    for name in names:
        cols = []
        for bf16 in (False, True):
            st = steppers.get((name, bf16))
            cols.append((args.batch / min(st.times), args.batch / statistics.median(st.cpu))
                        if st else (float("nan"), float("nan")))
        rates[name] = cols
    plain = rates[PLAIN][1][1]

    print(f"threads {args.threads}, batch {args.batch}, crop {args.seconds} s = {args.freqs}x{frames}, "
          f"{args.rounds} interleaved rounds")
    print("wall: examples/s from the fastest step. cpu: examples per CPU-second of this process "
          "(median step), which other load barely moves, so compare candidates on it.\n"
          f"est: bf16 cpu relative to the plain U-Net, times its {PLAIN_IDLE_RATE} ex/s on an idle "
          "2-core machine (same batch, 1-2 s crops)")
    print(f"{'candidate':<20} {'params':>7} {'fp32 wall':>9} {'fp32 cpu':>8} {'bf16 wall':>9} "
          f"{'bf16 cpu':>8} {'bf16/fp32':>9} {'vs plain':>8} {'est':>5}")
    for name in names:
        (w32, c32), (w16, c16) = rates[name]
        params = count_parameters(steppers[name, True].net) / 1e6
        print(f"{name:<20} {params:>6.2f}M {w32:>9.2f} {c32:>8.2f} {w16:>9.2f} {c16:>8.2f} "
              f"{c16 / c32:>9.2f} {c16 / plain:>8.2f} {PLAIN_IDLE_RATE * c16 / plain:>5.1f}")


if __name__ == "__main__":
    main()
