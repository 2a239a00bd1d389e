"""Others' share of the machine while something was timed (benchmark/driver/contention.py)."""
import multiprocessing as mp
import os
import sys
import time

import pytest

from benchmark.driver.contention import BUSY, Others, busy_seconds, others_share


def test_busy_time_counts_user_system_and_steal_not_idle_nor_guest():
    tick = os.sysconf("SC_CLK_TCK")
    #          user nice system idle iowait irq softirq steal guest guest_nice
    stat = f"cpu  {tick} {tick} {tick} {50 * tick} {7 * tick} {tick} {tick} {tick} {9 * tick} 0\ncpu0 1 2 3 4\n"
    assert busy_seconds(stat) == pytest.approx(6.0)
    assert busy_seconds("intr 5\n") is None


def test_the_share_is_what_others_used_of_every_core():
    assert others_share(busy_delta=3.0, own_cpu_delta=1.0, wall_delta=2.0, cores=2) == pytest.approx(0.5)
    assert others_share(1.0, 1.0, 2.0, 2) == 0.0           # all of it was ours
    assert others_share(1.0, 1.5, 2.0, 2) == 0.0           # tick rounding never goes below nothing


def _spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_processes_holding_every_core_are_seen():
    hogs = [mp.get_context("spawn").Process(target=_spin, args=(4.0,)) for _ in range(os.cpu_count())]
    for h in hogs:
        h.start()
    try:
        time.sleep(1.0)                      # the hogs are up
        with Others() as others:
            time.sleep(1.0)
    finally:
        for h in hogs:
            h.join()
    assert others.share > 0.6 > BUSY
