"""DNSMOS's cost: seconds of compute per second of audio, one process, one thread, beside PESQ-WB
and ESTOI measured in the same run, and the ratios.

    .venv/bin/python perf/dnsmos_cost.py [--count 40] [--seconds 2 5]

Utterances come from the embedded dataset's generator (espeak-ng speech, procedural noise, the
test split's settings; `--seconds` sets their duration range), and each is scored as score_many
scores it: the noisy input and an "enhanced" output (the clean speech plus a tenth of the noise).
DNSMOS pads a clip shorter than 9.01 s to 9.01 s, so below that its cost is per clip, not per
second: shorter utterances cost it more per second of audio. Times are CPU seconds of this
process (time.process_time), so a neighbour on the same cores disturbs them less than wall time.
"""
from __future__ import annotations

import argparse
import os
import time

from threadpoolctl import threadpool_limits

from benchmark.audio import dnsmos
from benchmark.audio.metrics import REGISTRY
from benchmark.config import compose, to_dict
from benchmark.data import mixture

SR = 16_000
GROUPS = {"DNSMOS": dnsmos.NAMES, "PESQ-WB": ("pesq_wb",), "ESTOI": ("estoi",)}


def make_items(count: int, seconds: tuple[float, float], seed: int = 0) -> list[tuple]:
    cfg = dict(to_dict(compose([]).data))
    cfg["seconds"] = list(seconds)
    kinds = [k for k in cfg["noise_types"] if k not in cfg["heldout_noise_types"]]
    items = []
    for i in range(count):
        clean, noisy, _ = mixture.make(seed + i, cfg, cfg["accents"], cfg["variants"]["test"], kinds)
        items.append((clean, noisy, clean + 0.1 * (noisy - clean)))
    return items


def cpu_seconds(items: list[tuple], names: tuple[str, ...]) -> float:
    start = time.process_time()
    for clean, noisy, enhanced in items:
        for estimate in (noisy, enhanced):
            for m in names:
                REGISTRY[m](clean, estimate, noisy, SR)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--seconds", type=float, nargs=2, default=(2.0, 5.0))
    args = parser.parse_args()
    items = make_items(args.count, tuple(args.seconds))
    audio_s = 2 * sum(len(c) for c, _, _ in items) / SR        # input and output of each utterance
    print(f"{args.count} utterances of {args.seconds[0]:g}-{args.seconds[1]:g} s, input and output "
          f"scored: {audio_s:.0f} s of audio; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    start = time.process_time()
    dnsmos.session()
    print(f"DNSMOS model load: {time.process_time() - start:.2f} CPU s, once per process")
    with threadpool_limits(limits=1):
        cost = {label: cpu_seconds(items, names) / audio_s for label, names in GROUPS.items()}
    for label, per_s in cost.items():
        print(f"{label:8s} {per_s:.4f} s of compute per s of audio")
    print(f"DNSMOS / PESQ-WB {cost['DNSMOS'] / cost['PESQ-WB']:.1f}x   "
          f"DNSMOS / ESTOI {cost['DNSMOS'] / cost['ESTOI']:.1f}x   "
          f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
