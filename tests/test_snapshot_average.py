"""perf/snapshot_average.py: a longer weight average from checkpoints kept along a run."""
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _snapshot(path: Path, step: int, value: float) -> Path:
    torch.save({"step": step, "model": {"w": torch.full((2,), -1.0)}, "optimizer": {"lr": step},
                "ema": {"shadow": [torch.full((2, 3), value), torch.tensor([value], dtype=torch.float64)]}},
               path)
    return path


def _run(*args):
    return subprocess.run([sys.executable, "perf/snapshot_average.py", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_the_ema_weights_are_averaged_and_the_rest_is_the_newest_checkpoints(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("seed: 0\n")
    snaps = [_snapshot(tmp_path / f"{n}.pt", step, value)
             for n, (step, value) in enumerate([(16000, 4.0), (15500, 1.0), (15750, 2.5)])]
    done = _run(*snaps, "--out", tmp_path / "avg", "--config", config)
    assert done.returncode == 0, done.stderr
    state = torch.load(tmp_path / "avg" / "last.pt", weights_only=False)
    assert torch.allclose(state["ema"]["shadow"][0], torch.full((2, 3), 2.5))
    assert state["ema"]["shadow"][1].dtype == torch.float64 and state["ema"]["shadow"][1].item() == 2.5
    assert state["step"] == 16000 and state["optimizer"] == {"lr": 16000}      # the newest one's
    assert state["averaged_steps"] == [15500, 15750, 16000]
    assert (tmp_path / "avg" / "config.yaml").read_text() == "seed: 0\n"
    assert "15500–16000 (3 snapshots)" in done.stdout


def test_a_checkpoint_given_twice_is_refused(tmp_path):
    a = _snapshot(tmp_path / "a.pt", 16000, 1.0)
    b = _snapshot(tmp_path / "b.pt", 16000, 1.0)
    done = _run(a, b, "--out", tmp_path / "avg", "--config", a)
    assert done.returncode != 0 and "share a step" in done.stderr
    assert not (tmp_path / "avg").exists()
