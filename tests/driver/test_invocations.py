"""driver/invocations.py: meta.json keeps every invocation's record, killed ones included (issue 48)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.driver.invocations import stamp
from benchmark.preflight import PreflightError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text", ['{"runs": [{"id": "a", "minu', "[1, 2]", '{"runs": "many"}'])
def test_an_unreadable_meta_json_is_refused_naming_it(tmp_path, text):
    from benchmark.driver.invocations import check_meta

    path = tmp_path / "meta.json"
    path.write_text(text)
    with pytest.raises(PreflightError, match=r"meta\.json .*move it aside"):
        check_meta(path)
    check_meta(tmp_path / "absent.json")                       # a first run has none: fine
    path.write_text('{"runs": []}')
    check_meta(path)


def test_a_meta_json_spoilt_during_a_run_is_moved_aside_not_dropped(tmp_path, capsys):
    path = tmp_path / "meta.json"
    path.write_text('{"runs": [{"id": "earlier", "minu')
    stamp({"invocation": "b", "runs": [{"id": "b"}]}, path, time.monotonic())
    [aside] = tmp_path.glob("meta.json.corrupt-*")
    assert aside.read_text() == '{"runs": [{"id": "earlier", "minu'
    assert [r["id"] for r in json.loads(path.read_text())["runs"]] == ["b"]
    assert str(aside) in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_invocation_keeps_nearly_all_its_minutes(tmp_path, tiny):
    """kill -9 never runs the final stamp: what is on record is the last periodic stamp, counted from
    the invocation's start (setup included), so at most STAMP_EVERY seconds are lost."""
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "benchmark.run", "study=smoke", *tiny, "trainer.max_steps=100000", "trainer.threads=1",
           f"--results={results}", "--jobs", "1", "--no-report", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = results / "smoke" / "meta.json"
    try:
        deadline = time.time() + 300
        while not meta.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert meta.exists(), "no meta.json within 5 minutes"
        time.sleep(40)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    [run] = json.loads(meta.read_text())["runs"]
    assert run["minutes"] >= 0.5, run                        # 40 s after the first stamp, and the setup before it
