import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from benchmark.checkpoints import frontend_from
from benchmark.config import compose
from benchmark.data import load_split
from benchmark.models import build_model
from benchmark.runtime import cpu_has_bf16
from benchmark.train import EMA, TrainerSettings, fit, spectrograms

TRAIN = [sys.executable, "-m", "benchmark.train"]


def _run(out, tiny, steps, extra=()):
    args = TRAIN + [f"out={out}", *tiny, f"trainer.max_steps={steps}", "trainer.checkpoint_every=4",
                    "trainer.val_every=0", "trainer.log_every=2", *extra]
    return args


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["ema"]["shadow"]


def test_kill_9_then_same_command_resumes_to_the_same_end(tmp_path, tiny):
    steps = 24
    # Reference: uninterrupted.
    ref = tmp_path / "ref"
    subprocess.run(_run(ref, tiny, steps), check=True, capture_output=True, timeout=600)
    # Interrupted: kill -9 once a checkpoint past step 8 exists, then run the same command again.
    out = tmp_path / "killed"
    proc = subprocess.Popen(_run(out, tiny, steps), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        last = out / "last.pt"
        if last.is_file():
            try:
                if torch.load(last, map_location="cpu", weights_only=False)["step"] >= 8:
                    break
            except Exception:  # caught mid-write: the atomic rename means a retry sees a whole file
                pass
        if proc.poll() is not None:
            pytest.fail("training finished before it could be killed")
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "last.pt", map_location="cpu", weights_only=False)["step"]
    assert 8 <= killed_at < steps
    done = subprocess.run(_run(out, tiny, steps), check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["steps"] == steps and result["resumed_from"] == killed_at
    # Seeded batches, restored RNG and optimiser state: the resumed run ends where the reference ends.
    for a, b in zip(_weights(out / "last.pt"), _weights(ref / "last.pt")):
        assert torch.allclose(a, b, atol=1e-5)


def _batch(tiny, kind="diffusion"):
    cfg = compose(tiny + [f"model.kind={kind}"])
    data = load_split(cfg.data, "train")
    clean = torch.stack([torch.as_tensor(data[i]["clean"][:16000]) for i in range(4)])
    noisy = torch.stack([torch.as_tensor(data[i]["noisy"][:16000]) for i in range(4)])
    torch.manual_seed(0)
    model = build_model(cfg)
    x0, y, mask = spectrograms(frontend_from(cfg), {"clean": clean, "noisy": noisy}, "cpu")
    return cfg, model, x0, y


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_autocast_matches_fp32_on_the_same_batch(tiny):
    _, model, x0, y = _batch(tiny)
    losses = {}
    for dtype in (None, torch.bfloat16):
        g = torch.Generator().manual_seed(3)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            losses[dtype] = float(model.loss(x0, y, None, g)[0])
    assert losses[torch.bfloat16] == pytest.approx(losses[None], rel=0.05)


def test_ema_warmup_forgets_the_initial_weights():
    net = torch.nn.Linear(3, 3)
    init = net.weight.detach().clone()
    warm, plain = EMA(net, 0.999, True), EMA(net, 0.999, False)
    with torch.no_grad():
        net.weight.add_(1.0)
    for k in range(50):
        warm.update(net, k)
        plain.update(net, k)
    # warm-up decay (1+k)/(10+k): after 50 steps the init keeps ∏ d_k ≈ 1.6e-2 of the average;
    # a plain 0.999 keeps 0.999^50 ≈ 95 %.
    assert torch.allclose(warm.shadow[0], init + 1.0, atol=0.05)
    assert torch.allclose(plain.shadow[0], init + 0.049, atol=0.01)


def test_predictive_training_lowers_the_loss(tmp_path, tiny):
    cfg = compose(tiny + ["model.kind=predictive", "trainer.max_steps=40", "trainer.val_every=0"])
    torch.manual_seed(0)
    model = build_model(cfg)
    fit(model, frontend_from(cfg), load_split(cfg.data, "train"), TrainerSettings.from_config(cfg.trainer),
        tmp_path, progress=False)
    losses = [json.loads(line)["loss"] for line in open(tmp_path / "train_log.jsonl")]
    assert len(losses) == 8 and sum(losses[-2:]) < 0.8 * sum(losses[:2])
