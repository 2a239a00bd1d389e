"""perf/learning_curve.py with --out outlives its process: a budget curve of many hours spans
sessions, so the same command after a kill -9 goes on from the last checkpoint and prints the whole
curve, each validation once."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLER = "the config's sampler (N=8)"


def _command(tiny, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "perf/learning_curve.py", "--steps", "30", "--val-every", "10", "--val-utterances", "1",
            "--splits", "valid", "--config-sampler", "--jobs", "1", "--checkpoint-every", "5", "--out", str(out),
            *extra, *tiny, "sampler=edm", "sampler.steps=8"]


def _summary(stdout: str) -> str:
    """What is printed after training: the table and the convergence line."""
    return stdout[stdout.index("\n  min "):].strip()


def _table(stdout: str) -> list[tuple[int, str]]:
    """(step, system) of the final table's rows."""
    lines = _summary(stdout).split("\n\n")[0].splitlines()[1:]
    return [(int(ln.split()[1]), ln.split("valid")[1].rsplit(None, 3)[0].strip()) for ln in lines if " valid " in ln]


def _validated(curve: Path) -> list[int]:
    lines = curve.read_text().splitlines() if curve.is_file() else []
    return [json.loads(ln)["validated"] for ln in lines if ln.endswith("}") and '"validated"' in ln]


def test_a_killed_curve_goes_on_from_its_checkpoint_and_prints_every_validation_once(tiny, tmp_path):
    out = tmp_path / "curve"
    proc = subprocess.Popen(_command(tiny, out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while 20 not in _validated(out / "curve.jsonl") and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the curve ended before it could be killed:\n" + proc.stderr.read()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(_command(tiny, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    # it went on: fewer validations made by the rerun than the curve has
    assert again.stdout[:again.stdout.index("\n  min ")].count(f"valid  {SAMPLER}") < 3
    assert _table(again.stdout) == [(0, "noisy input"), (10, SAMPLER), (20, SAMPLER), (30, SAMPLER)]
    assert _validated(out / "curve.jsonl") == [10, 20, 30]
    # the studied system's scores reach val_log.jsonl, so the folder's convergence is the store's rule
    assert f"convergence (valid, {SAMPLER}): pesq_wb" in again.stdout and "at step 20 →" in again.stdout
    assert "at 30, gain" in again.stdout
    # the same command once more trains and validates nothing, and prints the same curve
    done = subprocess.run(_command(tiny, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and _summary(done.stdout) == _summary(again.stdout)


def test_a_folder_of_another_model_or_other_options_is_refused(tiny, tmp_path):
    out = tmp_path / "curve"
    first = subprocess.run(_command(tiny, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    other_model = subprocess.run(_command(tiny, out, "trainer.lr=0.002"), cwd=REPO, capture_output=True, text=True)
    assert other_model.returncode != 0 and "another model or sampler" in other_model.stderr
    other_options = subprocess.run(_command(tiny, out, "--val-utterances", "2"), cwd=REPO, capture_output=True,
                                   text=True)
    assert other_options.returncode != 0 and "other options" in other_options.stderr


def test_a_finished_curve_is_a_model_the_study_finds_trained(tiny, tmp_path):
    """A budget curve trains a study's model (the same training hash): its folder placed under the
    models root by that hash, the study's driver (ensure_model) trains and validates nothing more,
    and only exports it and marks it done."""
    from omegaconf import OmegaConf

    from benchmark.config import training_hash
    from benchmark.driver.cell import ensure_model
    from benchmark.driver.grid import expand, load_study

    cache = next(o for o in tiny if o.startswith("data.cache_dir="))
    cell = next(c for c in expand(load_study("smoke"), [cache]) if c.kind == "diffusion")
    folder = tmp_path / "models" / cell.training_hash
    base = [str(o) for o in load_study("smoke").base]
    curve = subprocess.run([sys.executable, "perf/learning_curve.py", "--steps", "40", "--val-every", "20",
                            "--val-utterances", "1", "--splits", "valid", "--config-sampler", "--jobs", "1",
                            "--out", str(folder), *base, cache, "sde=oucosine", "sde.stiffness=0.0",
                            "sampler=edm", "sampler.steps=2", "sampler.churn=0"],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert curve.returncode == 0, curve.stderr[-2000:]
    assert training_hash(OmegaConf.load(folder / "config.yaml")) == cell.training_hash
    logs = {name: (folder / name).read_bytes() for name in ("train_log.jsonl", "val_log.jsonl")}
    found, info, _ = ensure_model(cell.config, tmp_path / "models", progress=False)
    assert found == folder and info["steps"] == 40 and info["resumed_from"] == 40
    assert {name: (folder / name).read_bytes() for name in logs} == logs      # not trained or validated again
    assert (folder / "done.json").is_file() and (folder / "model.pt").is_file()
