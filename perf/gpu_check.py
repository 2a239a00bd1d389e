"""GPU readiness at paper scale, in one run and one table (docs/performance.md, 'Paper scale,
rehearsed'): what a user plans an allocation with before spending GPU-days on `scale=paper`.

    python perf/gpu_check.py                    # on a CUDA machine: NCSN++M, about 6-8 minutes
    python perf/gpu_check.py --quick --cpu      # the script itself, on CPU with the tiny net (~1 min)

Rows, each measured here (nothing is a formula):
- training step of NCSN++M at brever's batch (a bucket of 32 s of audio: 8 utterances of 4 s),
  in fp32, bf16 and fp16 (fp16 with a GradScaler, as brever's use_amp): ms per step, seconds of
  audio per second, peak memory (torch.cuda.max_memory_allocated, reset per row; on CPU the
  process's peak RSS so far, which only grows: perf/memory.py gives clean CPU figures);
- denoiser calls per second at VoiceBank-DEMAND lengths (2, 4 and 8 s, batch 1, the inference
  precision that scale=paper evaluates in);
- real-time factor of the paper's samplers on a 4 s utterance: PC N=30 (NFE 60) and EDM Heun N=8;
- a learning curve of `--minutes` (2) of scale=paper training on the synthetic data, scored on
  validation utterances (perf/learning_curve.py, the config's own sampler).
The network is randomly initialised for the throughput rows: speed and memory do not depend on the
weights.
"""
from __future__ import annotations

import argparse
import gc
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.config import compose, fresh_model, sampler_from_config
from benchmark.enhance import enhance_waveform
from benchmark.runtime import autocast, inference_precision

SR = 16_000
REPO = Path(__file__).resolve().parents[1]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_gib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # KiB on Linux


def _reset_peak(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _timed(fn, device, repeats: int, warmup: int = 2) -> float:
    """Median seconds of fn() after `warmup` calls (the first carry cuDNN autotuning, allocation)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _train_row(base: list[str], precision: str, batch: int, seconds: float, repeats: int) -> tuple:
    cfg = compose(base)
    model, frontend, device = fresh_model(cfg)
    name = f"train step, {batch} × {seconds:g} s, {precision}"
    if precision == "fp16" and device.type != "cuda":
        return (name, "n/a on CPU", "", "")
    model.to(device).train()
    gen = torch.Generator(device=device).manual_seed(0)
    audio = 0.05 * torch.randn(batch, int(seconds * SR), generator=gen, device=device)
    x0, y = frontend.stft(audio), frontend.stft(audio + 0.02 * torch.randn_like(audio))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step():
        with autocast(precision, device):
            loss = model.loss(x0, y, None, gen)[0]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    _reset_peak(device)
    s = _timed(step, device, repeats)
    return (name, f"{1000 * s:.0f} ms", f"{batch * seconds / s:.1f} s audio/s", f"{_peak_gib(device):.2f} GiB")


def training_rows(base: list[str], batch: int, seconds: float, repeats: int, precisions) -> list:
    rows = []
    for precision in precisions:      # one function call each, so a model is freed before the next
        rows.append(_train_row(base, precision, batch, seconds, repeats))
        gc.collect()
    return rows


def inference_rows(base: list[str], lengths, repeats: int, rtf_seconds: float) -> list:
    rows = []
    cfg = compose(base)
    model, frontend, device = fresh_model(cfg)
    model.to(device).eval()
    precision = inference_precision(cfg, device)
    for seconds in lengths:
        y = frontend.stft(0.05 * torch.randn(1, int(seconds * SR), device=device))
        half = torch.full((1,), 0.5, device=device)

        @torch.no_grad()
        def call():
            with autocast(precision, device):
                model.denoiser(y, y, half, half)      # (x̃, y, σ, t): one network evaluation

        _reset_peak(device)
        s = _timed(call, device, repeats)
        rows.append((f"denoiser call, {seconds:g} s, {precision}", f"{1000 * s:.0f} ms",
                     f"{1 / s:.1f} calls/s", f"{_peak_gib(device):.2f} GiB"))
    noisy = (0.05 * np.random.default_rng(0).standard_normal(int(rtf_seconds * SR))).astype(np.float32)
    for name, overrides in (("PC N=30", ["sampler=pc", "sampler.steps=30"]),
                            ("EDM Heun N=8", ["sampler=edm", "sampler.steps=8"])):
        sampler = sampler_from_config(compose(base + overrides), model)
        _reset_peak(device)

        def run():
            return enhance_waveform(model, frontend, noisy, sampler, device=device,
                                    generator=torch.Generator().manual_seed(0), precision=precision)

        s = _timed(run, device, repeats=1, warmup=1)
        nfe = run().nfe
        rows.append((f"{name} (NFE {nfe}), {rtf_seconds:g} s file", f"{s:.2f} s",
                     f"RTF {s / rtf_seconds:.3f}", f"{_peak_gib(device):.2f} GiB"))
    return rows


def learning_curve_rows(base: list[str], minutes: float, utterances: int) -> list:
    cmd = [sys.executable, str(REPO / "perf" / "learning_curve.py"), "--minutes", str(minutes),
           "--val-every", "0", "--val-utterances", str(utterances), "--splits", "valid",
           "--config-sampler", *base]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return [(f"learning curve, {minutes:g} min", "failed", tail, "")]
    # its closing table: "  min  step  split  system  pesq_wb estoi si_sdr", the input's row first
    rows = []
    for ln in done.stdout.splitlines():
        parts = ln.split()
        if len(parts) >= 7 and parts[2] == "valid":
            system = " ".join(parts[3:-3])
            when = "" if parts[0] == "—" else f"{parts[0]} min, step {parts[1]}"
            rows.append((f"learning curve: {system}", when,
                         "PESQ-WB / ESTOI / SI-SDR " + " / ".join(parts[-3:]), ""))
    return rows or [(f"learning curve, {minutes:g} min", "no table", done.stdout[-200:], "")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu", action="store_true", help="run without CUDA (checks the script, not a GPU)")
    p.add_argument("--quick", action="store_true", help="the tiny net, short inputs, few repeats")
    p.add_argument("--minutes", type=float, default=2.0,
                   help="learning-curve training minutes; 0 leaves it out (perf/gpu_session.py runs its own)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. data.cache_dir=DIR")
    a = p.parse_args()
    if not a.cpu and not torch.cuda.is_available():
        sys.exit("error: no CUDA device here; this checks a GPU machine (--cpu runs it on CPU anyway)")
    base = ["scale=paper", f"device={'cpu' if a.cpu else 'cuda'}"]
    batch, seconds, lengths, rtf_s, utts = 8, 4.0, (2.0, 4.0, 8.0), 4.0, 20
    if a.quick:
        base += ["net=tiny", "trainer.threads=2", "data.sizes.train=12", "data.sizes.valid=4",
                 "data.sizes.test=2", "data.sizes.test_mismatched=2", "data.seconds=[1.5,2.5]",
                 "trainer.batch_seconds=4.0", "trainer.val_utterances=1"]
        batch, seconds, lengths, rtf_s, utts, a.repeats = 2, 1.0, (1.0,), 1.0, 2, 1
    base += a.overrides
    started = time.monotonic()
    device = "cpu" if a.cpu else torch.cuda.get_device_name()
    rows = training_rows(base, batch, seconds, a.repeats, ("fp32", "bf16", "fp16"))
    rows += inference_rows(base, lengths, a.repeats, rtf_s)
    if a.minutes > 0:
        rows += learning_curve_rows(base, a.minutes, utts)
    print(f"\n| {device}, torch {torch.__version__} | time | rate | peak memory |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n(all of it in {(time.monotonic() - started) / 60:.1f} min)")


if __name__ == "__main__":
    main()
