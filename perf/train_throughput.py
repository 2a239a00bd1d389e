"""Training throughput of our loop against a bare PyTorch loop on the same network and batch shape.

    python perf/train_throughput.py [--net small] [--steps 30] [--batch 8] [--crop 1.5]

Ours: benchmark.train.fit (data loading and cropping, STFT, EMA, logging, checkpoints, autocast).
Bare: the same model's loss on one pre-built batch, backward, Adam step; nothing else.
Prints examples/s for both and bare/ours (target ≤ 1.10). On a GPU it also prints NCSN++M
examples/s with and without mixed precision and torch.compile.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from benchmark.config import build_model, compose, frontend_from
from benchmark.data import load_split
from benchmark.data.batching import train_batches
from benchmark.fit import TrainerSettings, fit, spectrograms
from benchmark.runtime import autocast, resolve_precision, select_device, set_threads


def bare(model, batch, precision, device, steps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator(device=device).manual_seed(0)
    x0, y, mask = batch
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        with autocast(precision, device):
            loss = model.loss(x0, y, mask, gen)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * x0.shape[0] / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--net", default="small")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=float, default=1.5)
    p.add_argument("--precision", default="auto")
    a = p.parse_args()
    cache = Path(tempfile.gettempdir()) / "benchmark_perf_cache"
    cfg = compose([f"net={a.net}", f"data.cache_dir={cache}", "data.sizes.train=64", "data.sizes.valid=2",
                   "data.sizes.test=2", "data.sizes.test_mismatched=2", f"trainer.batch_size={a.batch}",
                   f"trainer.crop_seconds={a.crop}", f"trainer.precision={a.precision}", "trainer.val_every=0",
                   "trainer.checkpoint_every=1000000", "trainer.warmup_steps=0"])
    device = select_device(cfg.device)
    threads = set_threads(None)
    precision = resolve_precision(cfg.trainer.precision, device)
    data = load_split(cfg.data, "train")
    frontend = frontend_from(cfg)
    settings = TrainerSettings.from_config(cfg.trainer)

    torch.manual_seed(0)
    first = next(iter(train_batches(data, batch_size=a.batch, crop_seconds=a.crop, seed=0, epoch=0)))
    batch = spectrograms(frontend, {k: first[k] for k in ("clean", "noisy")}, device)
    bare_rate = bare(build_model(cfg).to(device), batch, precision, device, a.steps)

    with tempfile.TemporaryDirectory() as out:
        torch.manual_seed(0)
        warm = 3
        settings.max_steps = warm
        model = build_model(cfg)
        fit(model, frontend, data, settings, out, device=device, progress=False)   # warm-up + startup
        settings.max_steps = warm + a.steps
        t0 = time.perf_counter()
        fit(model, frontend, data, settings, out, device=device, progress=False)   # resumes: timed part only
        ours_rate = a.steps * a.batch / (time.perf_counter() - t0)
    print(json.dumps({"net": a.net, "device": str(device), "threads": threads, "precision": precision,
                      "batch": a.batch, "crop_seconds": a.crop}))
    print(f"bare loop : {bare_rate:7.2f} examples/s")
    print(f"our loop  : {ours_rate:7.2f} examples/s")
    print(f"bare/ours : {bare_rate / ours_rate:7.3f}   (target ≤ 1.10)")
    if device.type == "cuda":
        for prec in ("fp32", "bf16"):
            for compiled in (False, True):
                c2 = compose(["net=ncsnpp_m", "trainer.precision=" + prec])
                m = build_model(c2).to(device)
                if compiled:
                    m.net = torch.compile(m.net)
                b = spectrograms(frontend, {k: first[k].to(device) for k in ("clean", "noisy")}, device)
                print(f"NCSN++M {prec} compile={compiled}: {bare(m, b, prec, device, 20):.2f} examples/s")


if __name__ == "__main__":
    main()
