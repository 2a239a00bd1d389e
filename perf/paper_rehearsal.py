"""`scale=paper` end to end on one machine, the way a user starts on a GPU (docs/performance.md,
'Paper scale, rehearsed'):

    python perf/paper_rehearsal.py --out DIR                  # CUDA: NCSN++M, about 2 minutes on an H100
    python perf/paper_rehearsal.py --out DIR --cpu --quick    # the same path on CPU (tests/scale/)

1. a VoiceBank-DEMAND-shaped tree at 48 kHz (its folder and file names) made from the synthetic
   generator, since VB-DMD itself is not shipped (docs/data.md);
2. `python -m benchmark.run` of a two-cell study (PC N=30 and EDM Heun N=8) with `scale=paper
   data=vbdmd`: NCSN++M and brever's trainer (bucket batching, its learning rate and EMA), killed
   with SIGKILL after its first checkpoint, then the same command again, which resumes, finishes,
   enhances, scores, logs to MLflow and writes the report;
3. the model it trained enhances one long file (--long-seconds, 60 on a GPU) with both samplers,
   whole and in the default 30 s chunks: seconds, real-time factor, peak memory, PESQ-WB.

Prints one table and keeps it in DIR/rehearsal.md; a step that fails says which and stops.
tests/scale/test_paper_rehearsal.py runs steps 1-2 (and test_long_file step 3) on CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:        # run as a script from anywhere: the package beside perf/
    sys.path.insert(0, str(REPO))

from benchmark.audio.metrics import score_utterance  # noqa: E402
from benchmark.config import compose, sampler_from_config  # noqa: E402
from benchmark.data import load_split  # noqa: E402
from benchmark.enhance import DEFAULT_CHUNK_SECONDS, enhance_waveform  # noqa: E402
from benchmark.runtime import inference_precision  # noqa: E402
from benchmark.store import load_trained  # noqa: E402

STUDY = """name: paper_rehearsal
title: Paper-scale rehearsal
claim: the paper-scale path runs end to end
baselines: false
axes:
  sampler:
    pc: [sampler=pc]
    heun: [sampler=edm, sampler.steps=8]
"""
SAMPLERS = {"PC N=30": ["sampler=pc", "sampler.steps=30"], "EDM Heun N=8": ["sampler=edm", "sampler.steps=8"]}
TRAIN = ["p226_001", "p230_001", "p230_002", "p239_001", "p239_002", "p243_001"]
TEST = ["p232_001"]


def _generator(data: list[str]):
    """The generator's settings for the tree and the long file: one small dataset, made once."""
    return compose(data + [f"data.sizes.train={len(TRAIN) + 2}", "data.sizes.valid=1", "data.sizes.test=6",
                           "data.sizes.test_mismatched=1"])


def vbdmd_tree(root: Path, data: list[str], test_slice: slice = slice(None)) -> None:
    """VB-DMD's folder and file names at 48 kHz; speech and noise from the synthetic generator
    (`data`: its overrides, e.g. data.cache_dir). `test_slice` cuts the test file (CPU tests)."""
    cfg = _generator(data)
    sources = {"trainset_28spk": (load_split(cfg.data, "train"), TRAIN, slice(None)),
               "testset": (load_split(cfg.data, "test"), TEST, test_slice)}
    for sub, (split, names, part) in sources.items():
        for k, name in enumerate(names):
            for kind in ("clean", "noisy"):
                folder = root / f"{kind}_{sub}_wav"
                folder.mkdir(parents=True, exist_ok=True)
                sf.write(folder / f"{name}.wav", resample_poly(split[k][kind][part], 3, 1).astype(np.float32), 48000)


def command(root: Path, results: Path, study_file: Path, steps: int, extra: list[str] = ()) -> list[str]:
    """The study command a user runs: scale=paper on the tree, cut to `steps` training steps."""
    return [sys.executable, "-m", "benchmark.run", f"study={study_file}", f"--results={results}",
            f"--reports={results.parent / 'reports'}", "--quiet", "--jobs", "1",
            "scale=paper", "data=vbdmd", f"data.root={root}", "data.valid_speakers=[p226]",
            "trainer.max_epochs=null", f"trainer.max_steps={steps}", "trainer.checkpoint_every=1",
            "trainer.val_utterances=0", "trainer.log_every=1",
            "eval.metrics=[pesq_wb,estoi,si_sdr]", "eval.examples=1",
            "eval.splits=[test]", *extra]   # the real split (120 pairs) would dominate a rehearsal


def kill_after_first_checkpoint(cmd: list[str], results: Path, limit_s: float = 600) -> Path:
    """Start `cmd`, SIGKILL it once a model folder holds last.pt; that checkpoint's path."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + limit_s
    while time.time() < deadline:
        found = list((results / "models").glob("*/last.pt"))       # written after every step here
        if found:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return found[0]
        if proc.poll() is not None:
            raise RuntimeError("the run finished before it could be killed:\n" + proc.stderr.read()[-3000:])
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"no checkpoint within {limit_s:.0f} s")


def _peak_gib(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device.type == "cuda" else "n/a on CPU"


def long_file_rows(model_dir: Path, data: list[str], seconds: float, samplers=tuple(SAMPLERS)) -> list[tuple]:
    """The trained model on one long file made of test utterances end to end: per sampler, whole
    and (if longer) in DEFAULT_CHUNK_SECONDS chunks, the time, RTF, peak memory and PESQ-WB / ESTOI /
    SI-SDR."""
    from omegaconf import OmegaConf
    cfg = OmegaConf.load(model_dir / "config.yaml")
    loaded = load_trained(cfg, model_dir)
    test = load_split(_generator(data).data, "test")
    n = int(seconds * 16_000)
    reps = -(-n // sum(len(it["clean"]) for it in test))
    clean = np.concatenate([it["clean"] for it in test] * reps)[:n]
    noisy = np.concatenate([it["noisy"] for it in test] * reps)[:n]
    precision = inference_precision(loaded.config, loaded.device)
    rows = []
    for name in samplers:
        sampler = sampler_from_config(compose(SAMPLERS[name], base=loaded.config), loaded.model)
        for chunk in (None, DEFAULT_CHUNK_SECONDS) if seconds > DEFAULT_CHUNK_SECONDS else (None,):
            if loaded.device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            out = enhance_waveform(loaded.model, loaded.frontend, noisy, sampler, device=loaded.device,
                                   generator=torch.Generator().manual_seed(0), chunk_seconds=chunk,
                                   precision=precision)
            s = score_utterance(clean, out.audio, noisy, metrics=["pesq_wb", "estoi", "si_sdr"])
            how = "whole" if chunk is None else f"{chunk:g} s chunks"
            rows.append((f"{name} (NFE {out.nfe}), {seconds:g} s file, {how}, {precision}", f"{out.seconds:.1f} s",
                         f"RTF {out.seconds / seconds:.3f}", _peak_gib(loaded.device),
                         f"{s['pesq_wb']:.2f} / {s['estoi']:.3f} / {s['si_sdr']:.1f}"))
    return rows


def rehearse(out: Path, cpu: bool, quick: bool, long_seconds: float, data: list[str]) -> list[tuple]:
    root, results = out / "VoiceBank-DEMAND", out / "results"
    device = ["device=cpu"] if cpu else ["device=cuda"]
    # On CPU the test file is cut to its 0.8 s of speech: NCSN++M's 75 calls on it dominate there
    vbdmd_tree(root, data, slice(3200, 16000) if quick else slice(None))
    study_file = out / "paper_rehearsal.yaml"
    study_file.write_text(STUDY)
    steps = 3 if quick else 20
    cut = ["trainer.batch_seconds=2.5", "trainer.n_buckets=2", "eval.jobs=1"] if quick else ["eval.jobs=4"]
    cmd = command(root, results, study_file, steps, device + cut)
    rows = []
    t = time.perf_counter()
    last = kill_after_first_checkpoint(cmd, results)
    rows.append(("train, killed after the first checkpoint", f"{time.perf_counter() - t:.0f} s", last.parent.name,
                 "", ""))
    t = time.perf_counter()
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1500)
    (out / "rerun.log").write_text(again.stdout + again.stderr)
    if again.returncode != 0 or "2/2 cells done" not in again.stdout:
        raise RuntimeError("the same command again did not finish the study:\n" + again.stderr[-3000:])
    [done] = [json.loads(p.read_text()) for p in (results / "models").glob("*/done.json")]
    rows.append(("same command again: resume, enhance, score, MLflow, report", f"{time.perf_counter() - t:.0f} s",
                 f"resumed from step {done['resumed_from']} to {done['steps']}", f"{done['parameters']:,} parameters",
                 ""))
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("paper_rehearsal").experiment_id])
    rows.append(("MLflow runs", f"{len(runs)}", ", ".join(sorted(r.data.tags["role"] for r in runs)),
                 ", ".join(sorted({r.info.status for r in runs})), ""))
    report = results.parent / "reports" / "paper_rehearsal.html"
    rows.append(("report", "written" if report.is_file() else "MISSING", str(report.relative_to(out)), "", ""))
    [model_dir] = [p.parent for p in (results / "models").glob("*/done.json")]
    # NCSN++M takes seconds a call on 2 cores: there the long file is short, and Heun's 15 calls alone
    rows += long_file_rows(model_dir, data, long_seconds, ["EDM Heun N=8"] if quick else tuple(SAMPLERS))
    return rows


def table(rows: list[tuple], device: str) -> str:
    lines = [f"| paper-scale rehearsal, {device}, torch {torch.__version__} | time | rate / detail | "
             "peak memory | PESQ-WB / ESTOI / SI-SDR |", "|---|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="a folder for the tree, results, reports and rehearsal.md")
    p.add_argument("--cpu", action="store_true", help="run without CUDA (checks the script, not a GPU)")
    p.add_argument("--quick", action="store_true", help="3 steps and a cut test file (CPU)")
    p.add_argument("--long-seconds", type=float, default=60.0)
    p.add_argument("data", nargs="*", help="data overrides for the generator, e.g. data.cache_dir=DIR")
    a = p.parse_args()
    if not a.cpu and not torch.cuda.is_available():
        sys.exit("error: no CUDA device here; this rehearses a GPU machine (--cpu runs it on CPU anyway)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cpu" if a.cpu else torch.cuda.get_device_name()
    rows = rehearse(out, a.cpu, a.quick, a.long_seconds, list(a.data))
    text = table(rows, device)
    (out / "rehearsal.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
