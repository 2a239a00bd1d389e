"""`scale=paper` end to end on CPU: NCSN++M with brever's trainer (bucket batching, its learning
rate and EMA) on a VoiceBank-DEMAND-shaped tree at 48 kHz made from the synthetic generator, a kill -9
mid-training and the same command again, then PC N=30 (NFE 60) and EDM Heun N=8 (NFE 15), scoring,
MLflow and the report. Steps, utterances and seconds are cut to what 2 cores do in minutes; the
code path is the paper's."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from mlflow.tracking import MlflowClient
from scipy.signal import resample_poly

from benchmark.config import compose
from benchmark.data import load_split

REPO = Path(__file__).resolve().parents[2]
STUDY = """name: paper_rehearsal
title: Paper-scale rehearsal
claim: the paper-scale path runs end to end
baselines: false
axes:
  sampler:
    pc: [sampler=pc]
    heun: [sampler=edm, sampler.steps=8]
"""


def _vbdmd_tree(root: Path, data_cache) -> None:
    """VB-DMD's folder and file names at 48 kHz; speech and noise from the synthetic generator."""
    cfg = compose([f"data.cache_dir={data_cache}", "data.sizes.train=8", "data.sizes.valid=1", "data.sizes.test=2",
                   "data.sizes.test_mismatched=1", "data.seconds=[1.0,1.3]"])
    names = {"trainset_28spk": ["p226_001", "p230_001", "p230_002", "p239_001", "p239_002", "p243_001"],
             "testset": ["p232_001"]}
    sources = {"trainset_28spk": load_split(cfg.data, "train"), "testset": load_split(cfg.data, "test")}
    for sub, files in names.items():
        for k, name in enumerate(files):
            item = sources[sub][k]
            # The test file is cut to its 0.8 s of speech (0.2 to 1.0 s): NCSN++M's 75 calls on it are
            # most of the test's time on CPU, and 0.8 s is about the least that ESTOI scores.
            part = slice(3200, 16000) if sub == "testset" else slice(None)
            for kind in ("clean", "noisy"):
                folder = root / f"{kind}_{sub}_wav"
                folder.mkdir(parents=True, exist_ok=True)
                sf.write(folder / f"{name}.wav", resample_poly(item[kind][part], 3, 1).astype(np.float32), 48000)


def _cmd(root, results, study_file):
    return [sys.executable, "-m", "benchmark.run", f"study={study_file}", f"--results={results}",
            f"--reports={results.parent / 'reports'}", "--quiet", "--jobs", "1",
            "scale=paper", "data=vbdmd", f"data.root={root}", "data.valid_speakers=[p226]",
            "trainer.max_epochs=null", "trainer.max_steps=3", "trainer.batch_seconds=2.5", "trainer.n_buckets=2",
            "trainer.checkpoint_every=1", "trainer.val_utterances=0", "trainer.log_every=1",
            "eval.metrics=[pesq_wb,estoi,si_sdr]", "eval.jobs=1", "eval.examples=1",
            "eval.splits=[test]"]   # the real split (120 pairs) would dominate a CPU rehearsal


def test_paper_scale_trains_resumes_samples_scores_and_reports(tmp_path, data_cache):
    root, results = tmp_path / "VoiceBank-DEMAND", tmp_path / "results"
    _vbdmd_tree(root, data_cache)
    study_file = tmp_path / "paper_rehearsal.yaml"
    study_file.write_text(STUDY)
    cmd = _cmd(root, results, study_file)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    last = None
    while time.time() < deadline:
        found = list((results / "models").glob("*/last.pt"))       # written after every step here
        if found:
            last = found[0]
            break
        if proc.poll() is not None:
            pytest.fail("the rehearsal finished before it could be killed:\n" + proc.stderr.read()[-3000:])
        time.sleep(0.5)
    assert last is not None, "no checkpoint within 10 minutes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert again.returncode == 0 and "2/2 cells done" in again.stdout, again.stdout + again.stderr[-3000:]
    [done] = [json.loads(p.read_text()) for p in (results / "models").glob("*/done.json")]
    assert done["steps"] == 3 and 0 < done["resumed_from"] < 3 and done["parameters"] == 27_756_186
    cells = pd.read_csv(results / "paper_rehearsal" / "cells.csv")
    nfe = cells.drop_duplicates("cell").set_index("sampler")["nfe"].to_dict()
    assert nfe == {"pc": 60, "heun": 15}
    assert set(cells["split"]) == {"test"} and cells.groupby("cell")["n"].max().eq(1).all()
    assert cells[cells["which"] == "output"]["mean"].notna().all()         # every metric scored the cut file
    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("paper_rehearsal")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["role"] for r in runs) == ["cell", "cell", "study", "training"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert (results.parent / "reports" / "paper_rehearsal.html").is_file()
