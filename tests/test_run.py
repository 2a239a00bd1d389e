"""meta.json bookkeeping of benchmark.run: an invocation's wall-clock is on disk while it runs."""
import json
import time

from benchmark.run import _past_runs, _stamp, _Stamper


def test_stamper_keeps_the_running_invocation_on_record(tmp_path):
    path = tmp_path / "meta.json"
    meta = {"runs": [{"minutes": 2.5, "finished_at": "earlier"}, {"started_at": "now"}]}
    began = time.monotonic() - 90                      # this invocation has run for 1.5 min
    stamper = _Stamper(meta, path, began, every=0.05)
    stamper.start()
    deadline = time.time() + 10
    while time.time() < deadline and not path.exists():
        time.sleep(0.02)
    stamper.stop.set()
    stamper.join()
    on_disk = json.loads(path.read_text())
    assert on_disk["runs"][1]["minutes"] == 1.5 and "last_seen" in on_disk["runs"][1]
    assert on_disk["wall_minutes"] == 4.0               # earlier invocations still count
    assert not list(tmp_path.glob("*.tmp"))


def test_past_runs_reads_back_what_stamp_wrote_and_ignores_junk(tmp_path):
    path = tmp_path / "meta.json"
    meta = {"runs": [{"started_at": "a"}]}
    _stamp(meta, path, time.monotonic(), cells_done=3)
    assert _past_runs(path) == [{"started_at": "a", "minutes": 0.0, "cells_done": 3}]
    path.write_text("{not json")
    assert _past_runs(path) == []
