"""What a session lent a GPU runs, in one command and about 7 minutes on an H100 (docs/performance.md,
'On a GPU'): every figure of the loan in one folder, written stage by stage, so a loan cut short
still returns what was measured.

    python perf/gpu_session.py --out DIR                 # on the GPU machine
    python perf/gpu_session.py --out DIR --cpu --quick   # its whole path here, tiny (tests/test_gpu_check.py)

Stages, in this order (each a subprocess with its own time limit and log in DIR):
1. readiness: perf/gpu_check.py (training step per precision, denoiser calls, PC N=30 and EDM
   N=8 real-time factors), without its learning curve (stage 3 is the longer one);
2. rehearsal: perf/paper_rehearsal.py (scale=paper trained, killed, resumed, enhanced, scored,
   logged to MLflow, reported; a 60 s file whole and chunked with peak memory);
3. learning curves: the recommended setting (the defaults: OU-cosine SDE, EDM preconditioning
   and sampler) and the predictive baseline, with NCSN++M at scale=paper's trainer on the
   embedded data, --minutes each, validation PESQ-WB every minute. The two train at the same
   time, sharing the GPU (a loan is 15 minutes): each figure is then a lower bound on what a
   GPU of its own gives. The embedded data here is the synthetic generator alone
   (data.real_noise=false, data.real_speech=false): the package recordings of the real sources
   are not on the GPU machine; compare with CPU curves run on the same data (--cpu-curves).

DIR/session.md collects the tables; DIR/<stage>.log each stage's output.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PERF = REPO / "perf"
# the embedded data on a machine without the real sources' packages: the synthetic generator alone
DATA = ["data.real_noise=false", "data.real_speech=false"]
# the recommended setting: the defaults (OU-cosine γ = 0, all-EDM) and the paper's EDM Heun N = 8 (NFE 15)
CURVES = {"recommended": ["sampler=edm", "sampler.steps=8"], "predictive": ["model.kind=predictive"]}
TINY = ["net=tiny", "data.sizes.train=24", "data.sizes.valid=4", "data.sizes.test=2",
        "data.sizes.test_mismatched=2", "data.seconds=[1.5,2.5]", "trainer.batch_seconds=4.0"]


def _env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO)) if p)
    return env


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, env=_env())


def _finish(proc: subprocess.Popen, deadline: float) -> str:
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        return "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "cut at its time limit"


def _tables(log: Path) -> str:
    """The markdown table lines, and a learning curve's closing table, of a stage's log."""
    lines = log.read_text(errors="replace").splitlines()
    keep = [ln for ln in lines if ln.startswith("|")]
    if any(ln.strip().startswith("min  step") for ln in lines):
        at = max(i for i, ln in enumerate(lines) if ln.strip().startswith("min  step"))
        keep += ["```", *lines[at:], "```"]
    return "\n".join(keep) if keep else "(no table; the log's last lines:)\n```\n" + "\n".join(lines[-15:]) + "\n```"


def curve_command(name: str, minutes: float, device: str, quick: bool, cache: str, jobs: int) -> list[str]:
    base = ["scale=embedded" if device == "cpu" and not quick else "scale=paper", f"device={device}",
            *DATA, f"data.cache_dir={cache}", *CURVES[name]]
    if quick:
        base += TINY
    return [sys.executable, str(PERF / "learning_curve.py"), "--minutes", str(minutes),
            "--val-minutes", f"{max(minutes / 3, 0.05) if quick else 1.0:.3g}",
            "--val-utterances", "2" if quick else "20", "--splits", "valid", "--config-sampler",
            "--jobs", str(jobs), *base]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--cpu", action="store_true", help="run without CUDA (checks the script, not a GPU)")
    p.add_argument("--quick", action="store_true", help="tiny net and sizes: the path, not the figures")
    p.add_argument("--minutes", type=float, default=3.0, help="learning-curve training minutes per model")
    p.add_argument("--cache", default=None, help="data.cache_dir (default: a fresh folder under /tmp)")
    p.add_argument("--stages", default="readiness,rehearsal,curves")
    p.add_argument("--cpu-curves", action="store_true",
                   help="only stage 3 with the embedded net on CPU, one model after the other (the comparison)")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = a.cache or tempfile.mkdtemp(prefix="gpu-session-data-")
    device = "cpu" if a.cpu or a.cpu_curves else "cuda"
    cpu_flag = ["--cpu"] if device == "cpu" else []
    jobs = max(1, min(8, (os.cpu_count() or 2) // 2))
    stages = ["curves"] if a.cpu_curves else a.stages.split(",")
    summary = out / ("cpu_curves.md" if a.cpu_curves else "session.md")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [f"# {'CPU curves' if a.cpu_curves else 'GPU session'}, {when}"]

    def note(title: str, status: str, seconds: float, body: str):
        parts.append(f"\n## {title}: {status}, {seconds / 60:.1f} min\n\n{body}\n")
        summary.write_text("\n".join(parts) + "\n")      # after every stage: a cut loan keeps what was done

    quick = ["--quick"] if a.quick else []
    data = [f"data.cache_dir={cache}", *DATA]
    if "readiness" in stages:
        t, log = time.monotonic(), out / "readiness.log"
        status = _finish(_start([sys.executable, str(PERF / "gpu_check.py"), *cpu_flag, *quick, "--minutes", "0",
                                 *data], log), t + 180)
        note("1. readiness (perf/gpu_check.py)", status, time.monotonic() - t, _tables(log))
    if "rehearsal" in stages:
        t, log = time.monotonic(), out / "rehearsal.log"
        work = Path(tempfile.mkdtemp(prefix="rehearsal-"))
        extra = ["data.seconds=[1.0,1.3]"] if a.quick else []
        cmd = [sys.executable, str(PERF / "paper_rehearsal.py"), "--out", str(work), *cpu_flag, *quick,
               "--long-seconds", "0.5" if a.quick else "60", *data, *extra]
        status = _finish(_start(cmd, log), t + (300 if device == "cuda" else 900))      # NCSN++M on 2 cores: minutes
        note("2. paper-scale rehearsal (perf/paper_rehearsal.py)", status, time.monotonic() - t, _tables(log))
    if "curves" in stages:
        t = time.monotonic()
        # the data first, once, with every core: both curves then read the same cached splits
        gen = subprocess.run([sys.executable, "-c", "import sys; from benchmark.config import compose; "
                              "from benchmark.data import load_split; cfg = compose(sys.argv[1:]); "
                              "[load_split(cfg.data, s) for s in ('train', 'valid')]",
                              *data, f"data.workers={os.cpu_count() or 2}", *(TINY if a.quick else [])],
                             cwd=REPO, env=_env(), capture_output=True, text=True)
        if gen.returncode:
            note("3. learning curves", "data failed", time.monotonic() - t, "```\n" + gen.stderr[-2000:] + "\n```")
            return
        logs = {name: out / f"curve_{name}.log" for name in CURVES}
        cmds = {name: curve_command(name, a.minutes, device, a.quick, cache, jobs) for name in CURVES}
        budget = a.minutes * 60 * 1.6 + 120      # validation time is given back to the budget (learning_curve.py)
        if device == "cpu":               # one after the other: two on 2 cores would halve each
            status = {n: _finish(_start(cmds[n], logs[n]), time.monotonic() + budget) for n in CURVES}
        else:                             # together: a loan is 15 minutes (the docstring)
            procs = {n: _start(cmds[n], logs[n]) for n in CURVES}
            status = {n: _finish(proc, t + budget) for n, proc in procs.items()}
        body = "\n\n".join(f"### {n}: {status[n]}\n`{' '.join(cmds[n][1:])}`\n\n{_tables(logs[n])}" for n in CURVES)
        note("3. learning curves (perf/learning_curve.py)", ", ".join(f"{n} {s}" for n, s in status.items()),
             time.monotonic() - t, body)
    print(summary.read_text())


if __name__ == "__main__":
    main()
