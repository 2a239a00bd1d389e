"""Peak memory of enhancing a long file and of one training step, against length, in one run.

    python perf/memory.py [--scale paper] [--seconds 10 30 60] [--chunk 30] [--train-seconds 4 8 16]

Each measurement runs in a fresh process (peak RSS on CPU from getrusage; on CUDA
torch.cuda.max_memory_allocated), with a randomly initialised network: memory does not depend on
the weights. Enhancement uses one network call per chunk (euler, steps=1): the sampler's state is a
few spectrograms, so the peak is the network's activations on one chunk, and files longer than
`--chunk` seconds must stay flat.
"""
import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, numpy as np, torch
from benchmark.config import compose
from benchmark.config import fresh_model
from benchmark.enhance import enhance_waveform
from benchmark.config import sampler_from_config
from benchmark.runtime import autocast, inference_precision, resolve_precision
from benchmark.train import plain_step
task, seconds, chunk, scale = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
cfg = compose([f"scale={scale}", "sampler=euler", "sampler.steps=1"])
model, frontend, device = fresh_model(cfg)
model.to(device)
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
noisy = (0.05 * np.random.default_rng(0).standard_normal(int(seconds * 16000))).astype(np.float32)
if task == "enhance":
    model.eval()
    enhance_waveform(model, frontend, noisy, sampler_from_config(cfg, model), device=device,
                     chunk_seconds=chunk, precision=inference_precision(cfg, device))
else:
    x = torch.as_tensor(noisy)[None].to(device)
    opt = torch.optim.Adam(model.parameters())
    plain_step(model, opt, frontend.stft(x), frontend.stft(x), None, None,
               resolve_precision(cfg.trainer.precision, device), device)
peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print(json.dumps({"task": task, "seconds": seconds, "peak_gib": peak / 2**30, "device": str(device)}))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scale", default="paper")
    p.add_argument("--seconds", type=float, nargs="+", default=[10, 30, 60])
    p.add_argument("--chunk", type=float, default=30.0)
    p.add_argument("--train-seconds", type=float, nargs="+", default=[4, 8, 16])
    a = p.parse_args()
    jobs = [("enhance", s) for s in a.seconds] + [("train", s) for s in a.train_seconds]
    print(f"scale={a.scale}, chunks of {a.chunk:g} s; train: one step on one utterance of that length")
    for task, seconds in jobs:
        out = subprocess.run([sys.executable, "-c", CHILD, task, str(seconds), str(a.chunk), a.scale],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"{task:8s} {seconds:6.1f} s: failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{task:8s} {seconds:6.1f} s: peak {r['peak_gib']:6.2f} GiB on {r['device']}")


if __name__ == "__main__":
    main()
