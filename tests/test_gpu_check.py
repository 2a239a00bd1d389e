"""perf/gpu_check.py is what a session lent a GPU runs first, with minutes of device time: its
whole path (every row of the table) is run here on CPU with the tiny net."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow     # the GPU check on CPU: run it (-m slow) when perf/gpu_check.py changes, before a GPU session
def test_the_gpu_check_prints_every_row_of_its_table_on_cpu(data_cache):
    done = subprocess.run([sys.executable, "perf/gpu_check.py", "--quick", "--cpu", "--minutes", "0.1",
                           f"data.cache_dir={data_cache}"], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    table = [ln for ln in done.stdout.splitlines() if ln.startswith("| ")]
    for row in ("train step, 2 × 1 s, fp32", "train step, 2 × 1 s, bf16", "fp16 | n/a on CPU",
                "denoiser call, 1 s", "PC N=30 (NFE 60)", "EDM Heun N=8 (NFE 15)",
                "learning curve: noisy input", "learning curve: the config's sampler"):
        assert any(row in ln for ln in table), (row, done.stdout)
    assert "failed" not in done.stdout


def test_without_cuda_it_says_so_unless_told_to_run_on_cpu():
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run([sys.executable, "perf/gpu_check.py"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1 and "no CUDA device here" in done.stderr


@pytest.mark.slow     # ~6 min on 2 cores (NCSN++M's rehearsal): run it (-m slow) before a GPU session
def test_the_gpu_session_runs_every_stage_on_cpu_and_keeps_each_table(data_cache, tmp_path):
    done = subprocess.run([sys.executable, "perf/gpu_session.py", "--out", str(tmp_path), "--cpu", "--quick",
                           "--minutes", "0.3", "--cache", str(data_cache)], cwd=REPO, capture_output=True,
                          text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = (tmp_path / "session.md").read_text()
    for stage in ("1. readiness", "2. paper-scale rehearsal", "3. learning curves"):
        assert f"## {stage}" in summary and "failed" not in summary and "cut at" not in summary, summary
    assert "resumed from step" in summary and "60 s file" not in summary and "0.5 s file, whole" in summary
    # each curve: the input's row and validations by minute, the last at the end of --minutes
    for name in ("recommended", "predictive"):
        rows = [ln.split() for ln in (tmp_path / f"curve_{name}.log").read_text().splitlines()
                if len(ln.split()) > 6 and ln.split()[2] == "valid"]
        minutes = [float(r[0]) for r in rows if r[0] != "—"]
        assert len(minutes) >= 2 and minutes == sorted(minutes) and minutes[-1] >= 0.3, rows
