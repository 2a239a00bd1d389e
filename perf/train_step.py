"""One training step of the embedded recipe, before and after each kept speed change, in one run.

    python perf/train_step.py [--net small] [--steps 10] [--repeats 3] [--threads N] [--profile] [--dropped]
    python perf/train_step.py --net small --against cpu      # issue 45's CPU net beside the default

Same model, batch (8 × 1.5 s, the embedded front end), bf16 autocast where the CPU has it, 2 threads. Rows:
  fir-autocast   the FIR resampler under autocast (bf16 depthwise convolutions): the old path
  fir-fp32       the FIR resampler in fp32 (benchmark/nets/layers.py): the kept path
  --dropped adds the layouts measured and dropped, each a model of its own beside the kept path:
  channels-last  the net's weights and activations in channels-last memory format
  compile        torch.compile of the net (inductor; its compile time is left out of the rows)
--against NET adds another network's kept path as a row of its own (same batch, same precision),
with its FLOPs, its arithmetic rate and its share of the same matmul peak. Prints the median step
time of each and the ratio, and the kept path's arithmetic rate: the step's
FLOPs (torch.utils.flop_counter: convolutions and matrix products, forward and backward) over its
time, against the peak of a large matrix product in the step's precision timed in the same run, so
"% of peak" needs no figure from another host or day. --profile prints the kept path's top operators
(torch.profiler, self CPU time), the profile docs/performance.md quotes. Two copies run at
once with --threads 1 against one with --threads 2 measure what --jobs 2 buys on 2 cores.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmark.config import build_model, compose, frontend_from
from benchmark.data import load_split
from benchmark.data.batching import train_batches
from benchmark.fit import plain_step, spectrograms
from benchmark.nets import layers
from benchmark.runtime import resolve_precision, set_threads


def _old_down(self, x):
    c = x.shape[1]
    pad, _ = self._pads(tuple(x.shape[-2:]))
    return F.conv2d(x, self.kernel.to(x.dtype).expand(c, 1, -1, -1), stride=2, padding=pad, groups=c)


def _old_up(self, x, size):
    c = x.shape[1]
    pad, out_pad = self._pads(tuple(size))
    w = (4 * self.kernel).to(x.dtype).expand(c, 1, -1, -1)
    return F.conv_transpose2d(x, w, stride=2, padding=pad, output_padding=out_pad, groups=c)


def step_flops(step) -> int:
    """Convolution and matrix-product FLOPs of one call of `step` (forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul_peak_gflops(precision: str, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n × n matrix product in the step's precision (bf16 under autocast, else fp32):
    what the CPU's matrix units give this process's threads now."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b                                        # the first call packs and warms
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--net", default="small")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--dropped", action="store_true")
    p.add_argument("--against", default=None, help="another network preset, timed beside --net")
    a = p.parse_args()
    set_threads(a.threads)
    cache = Path(tempfile.gettempdir()) / "benchmark_perf_cache"
    data = [f"data.cache_dir={cache}", "data.sizes.train=64", "data.sizes.valid=2", "data.sizes.test=2",
            "data.sizes.test_mismatched=2"]
    cfg = compose([f"net={a.net}", *data])
    device = torch.device("cpu")
    precision = resolve_precision(cfg.trainer.precision, device)
    first = next(iter(train_batches(load_split(cfg.data, "train"), batch_size=int(cfg.trainer.batch_size),
                                    crop_seconds=float(cfg.trainer.crop_seconds), seed=0, epoch=0)))
    x0, y, mask = spectrograms(frontend_from(cfg), {k: first[k] for k in ("clean", "noisy")}, device)

    def stepper(layout: str = "kept", net_cfg=cfg):
        torch.manual_seed(0)
        model = build_model(net_cfg)
        if layout == "channels-last":
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        if layout == "compile":
            model.net = torch.compile(model.net)
            if hasattr(model, "denoiser"):       # a diffusion model calls the net through its denoiser
                model.denoiser.net = model.net
        gen = torch.Generator().manual_seed(0)
        return lambda: plain_step(model, opt, x0, y, mask, gen, precision, device)

    step = stepper()

    def timed(fn):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            fn()
        return (time.perf_counter() - t0) / a.steps * 1000

    kept = (layers.FIRResampler.down, layers.FIRResampler.up)
    variants = {"fir-autocast": (step, (_old_down, _old_up)), "fir-fp32": (step, kept)}
    if a.dropped:
        variants |= {layout: (stepper(layout), kept) for layout in ("channels-last", "compile")}
    if a.against:
        variants[f"net {a.against}"] = (stepper(net_cfg=compose([f"net={a.against}", *data])), kept)
    for name, (fn, _) in variants.items():
        t0 = time.perf_counter()
        for _ in range(3):
            fn()
        print(f"{name}: first 3 steps {time.perf_counter() - t0:.1f} s", flush=True)
    rows = {name: [] for name in variants}
    for _ in range(a.repeats):               # alternate, so a busy spell on the cores hits all alike
        for name, (fn, (down, up)) in variants.items():
            layers.FIRResampler.down, layers.FIRResampler.up = down, up
            fn()
            rows[name].append(timed(fn))
    layers.FIRResampler.down, layers.FIRResampler.up = kept
    rows = {name: statistics.median(v) for name, v in rows.items()}
    print(f"net {a.net}, batch {tuple(y.shape)}, {precision}, {torch.get_num_threads()} threads")
    for name, ms in rows.items():
        print(f"{name:14s} {ms:7.1f} ms/step  {1000 / ms * x0.shape[0]:6.1f} examples/s")
    for name in variants:
        if name != "fir-fp32":
            print(f"{name} / fir-fp32 = {rows[name] / rows['fir-fp32']:.3f}")
    peak = matmul_peak_gflops(precision)
    for name, fn in [("kept path", step)] + ([(f"net {a.against}", variants[f"net {a.against}"][0])]
                                              if a.against else []):
        gflop = step_flops(fn) / 1e9
        rate = gflop / (rows["fir-fp32" if fn is step else name] / 1000)
        print(f"{name}: {gflop:.1f} GFLOP a step, {rate:.0f} GFLOP/s = {100 * rate / peak:.0f}% of the "
              f"{precision} matmul peak ({peak:.0f} GFLOP/s, 2048² product, same run, "
              f"{torch.get_num_threads()} threads)")
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
