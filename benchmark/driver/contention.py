"""How much of the machine other processes used while we timed something.

A unit cost timed while other work holds the cores is not this machine's cost: a `--dry-run` beside
a training study (2 torch threads each on 2 cores) timed the small net's step at 8 s where it takes
0.38 s idle, priced the main job at 54.6 hours, and kept that figure in costs.json for every later
price. The fastest-of-three rule (price._timed) does not help when the load is steady. What does:
the machine's busy CPU time over the timing (Linux /proc/stat, all cores) less this process's own
(all its threads) is what the others took; as a share of the cores' wall-clock it says whether the
figure can be kept. Where /proc/stat is absent the share is unknown (None) and figures are kept,
as before.
"""
from __future__ import annotations

import os
import time

STAT = "/proc/stat"
BUSY = 0.25            # others held more than a quarter of the machine: the figure is not kept


def busy_seconds(stat_text: str) -> float | None:
    """Seconds of CPU time the machine (all cores) has spent busy since boot, from /proc/stat's text."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
            # already inside user and nice; idle and iowait are not busy
            f = [int(v) for v in line.split()[1:]]
            busy = f[0] + f[1] + f[2] + sum(f[5:8])
            return busy / os.sysconf("SC_CLK_TCK")
    return None


def others_share(busy_delta: float, own_cpu_delta: float, wall_delta: float, cores: int) -> float:
    """The share of `cores` × `wall_delta` that went to other processes."""
    if wall_delta <= 0 or cores <= 0:
        return 0.0
    return min(1.0, max(0.0, (busy_delta - own_cpu_delta) / (wall_delta * cores)))


def _read_busy() -> float | None:
    try:
        with open(STAT) as f:
            return busy_seconds(f.read())
    except OSError:
        return None


class Others:
    """`with Others() as o: ...` then `o.share`: others' share of the machine during the block (None
    where it cannot be read)."""

    share: float | None = None

    def __enter__(self):
        self._busy, self._own, self._wall = _read_busy(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        busy = _read_busy()
        if busy is not None and self._busy is not None:
            self.share = others_share(busy - self._busy, time.process_time() - self._own,
                                      time.perf_counter() - self._wall, os.cpu_count() or 1)
        return False
