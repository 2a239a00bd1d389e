"""Scoring throughput: 200 utterances of 2-5 s, one process vs a pool (docs/performance.md,
'Scoring': the goal was >= 1.8x on 2 cores), and a second cell's scoring with the input's scores
read from the cache (input_scores.py) against scoring the input again. Prints the wall times and
their ratios, measured in this one run.

    .venv/bin/python perf/metrics_throughput.py [--count 200] [--jobs 2] [--repeats 1]

Each run scores input and output with every metric (PESQ-WB/NB, ESTOI, STOI, SI-SDR/SIR/SAR).
Another job on the same cores distorts the ratio: check `uptime`, and use --repeats, which
alternates the two and keeps the fastest of each.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmark.audio.metrics import score_many

SR = 16_000


def speechlike(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Harmonic bursts with a gliding pitch: PESQ and STOI see speech and pauses."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(90, 220) * (1 + 0.15 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 30))
    return (0.1 * tone * np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2).astype(np.float32)


def make_items(count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        s = speechlike(rng.uniform(2.0, 5.0), rng)
        n = rng.standard_normal(len(s)).astype(np.float32)
        n *= np.linalg.norm(s) / np.linalg.norm(n) / 10 ** (rng.uniform(0, 15) / 20)
        items.append({"name": f"u{i:03d}", "clean": s, "noisy": s + n, "enhanced": s + 0.3 * n})
    return items


def timed(items: list[dict], jobs: int, known=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children) of one scoring."""
    before, start = os.times(), time.perf_counter()
    score_many(items, jobs=jobs, known_inputs=known)
    wall, after = time.perf_counter() - start, os.times()
    cpu = sum(getattr(after, f) - getattr(before, f)
              for f in ("user", "system", "children_user", "children_system"))
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    items = make_items(args.count)
    audio_s = sum(len(it["clean"]) for it in items) / SR
    print(f"{args.count} utterances, {audio_s:.0f} s of audio, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    # Alternate the two so that a busy spell on shared cores hits both alike; keep the fastest.
    runs = [(timed(items, 1), timed(items, args.jobs)) for _ in range(args.repeats)]
    serial, serial_cpu = min(r[0] for r in runs)
    parallel, parallel_cpu = min(r[1] for r in runs)
    print(f"jobs=1: {serial:.2f} s   jobs={args.jobs}: {parallel:.2f} s   "
          f"speed-up {serial / parallel:.2f}x")
    # Under load the wall ratio says more about the neighbours than about the pool; the CPU
    # seconds show whether the pool does extra work (start-up, passing audio and results).
    print(f"CPU seconds: jobs=1 {serial_cpu:.1f}, jobs={args.jobs} {parallel_cpu:.1f} "
          f"(pool overhead {100 * (parallel_cpu / serial_cpu - 1):+.1f}%); "
          f"load average now {os.getloadavg()[0]:.2f}")
    table = score_many(items, jobs=args.jobs)
    known = {name: dict(zip(g["metric"], g["input"])) for name, g in table.groupby("name")}
    cached = min(timed(items, args.jobs, known)[0] for _ in range(args.repeats))
    print(f"input re-scored: {parallel:.2f} s   input from the cache: {cached:.2f} s   "
          f"speed-up {parallel / cached:.2f}x (jobs={args.jobs})")


if __name__ == "__main__":
    main()
