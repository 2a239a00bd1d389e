import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from benchmark.config import build_model, compose, frontend_from
from benchmark.data import load_split
from benchmark.fit import EMA, TrainerSettings, fit, load_weights, spectrograms
from benchmark.runtime import cpu_has_bf16

TRAIN = [sys.executable, "-m", "benchmark.train"]


def _run(out, tiny, steps, extra=()):
    args = TRAIN + [f"out={out}", *tiny, f"trainer.max_steps={steps}", "trainer.checkpoint_every=4",
                    "trainer.val_every=0", "trainer.log_every=2", *extra]
    return args


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["ema"]["shadow"]


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
                if torch.load(last, map_location="cpu", weights_only=True)["step"] >= 8:
                    break
            except Exception:  # caught mid-write: the atomic rename means a retry sees a whole file
                pass
        if proc.poll() is not None:
            pytest.fail("training finished before it could be killed")
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "last.pt", map_location="cpu", weights_only=True)["step"]
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


def _val_loss(model, cfg, items, frontend):
    """Denoising loss on held-out utterances, same noise draws every call."""
    gen, total = torch.Generator().manual_seed(7), 0.0
    model.eval()
    with torch.no_grad():
        for it in items:
            batch = {"clean": torch.as_tensor(it["clean"])[None], "noisy": torch.as_tensor(it["noisy"])[None]}
            x0, y, _ = spectrograms(frontend, batch, "cpu")
            total += sum(float(model.loss(x0, y, generator=gen)[0]) for _ in range(8))
    model.train()
    return total


@pytest.mark.slow     # two minutes; test_predictive_training_lowers_the_loss and the studies' runs train too
def test_a_few_hundred_steps_of_the_embedded_recipe_lower_the_loss_and_enhance(tmp_path, tiny):
    """The recipe (trainer=embedded, sampler=embedded, frontend and noise law of defaults.yaml) with
    the tiny net on the tiny set: held-out denoising loss falls, and the sampler's output beats the
    noisy input's SI-SDR on the utterances it saw."""
    from benchmark.audio.metrics import score_many
    from benchmark.config import sampler_from_config
    from benchmark.enhance import enhance_waveform

    # on synthetic sources (scale=synthetic): what is asked is whether the trainer and sampler learn the
    # 12 utterances they see, and real recordings in a 12-utterance set make that a lottery of draws
    overrides = [o for o in tiny if o != "trainer=smoke"] + ["scale=synthetic"]
    cfg = compose(overrides + ["trainer.max_steps=300", "trainer.val_every=0", "trainer.warmup_steps=50"])
    assert cfg.trainer.name == "embedded" and cfg.sampler.sigma_start == 0.25
    torch.manual_seed(0)
    model, frontend = build_model(cfg), frontend_from(cfg)
    train, valid = load_split(cfg.data, "train"), load_split(cfg.data, "valid")
    held_out = [valid[i] for i in range(len(valid))]
    before = _val_loss(model, cfg, held_out, frontend)
    fit(model, frontend, train, TrainerSettings.from_config(cfg.trainer), tmp_path, progress=False)
    load_weights(model, tmp_path)                         # the EMA weights, as evaluation uses
    assert _val_loss(model, cfg, held_out, frontend) < 0.7 * before
    sampler, gen = sampler_from_config(cfg, model), torch.Generator().manual_seed(0)
    seen = [train[i] for i in range(4)]
    enh = [dict(name=it["name"], clean=it["clean"], noisy=it["noisy"],
                enhanced=enhance_waveform(model, frontend, it["noisy"], sampler, generator=gen).audio) for it in seen]
    table = score_many(enh, metrics=["si_sdr"], jobs=1)
    assert table["output"].mean() > table["input"].mean() + 1.0


def test_learning_rate_warms_up_then_decays_to_zero_on_the_cosine():
    from benchmark.fit import learning_rate
    s = TrainerSettings(lr=1e-3, warmup_steps=10, max_steps=110, lr_decay="cosine")
    lrs = [learning_rate(s, k) for k in range(111)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3) and lrs[10] == pytest.approx(1e-3)
    assert lrs[60] == pytest.approx(5e-4) and lrs[110] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert learning_rate(TrainerSettings(lr=1e-3, warmup_steps=10), 500) == 1e-3     # lr_decay none
    with pytest.raises(ValueError, match="max_steps"):
        TrainerSettings(lr_decay="cosine", max_steps=None)


def _fit_tiny(tiny, out, validate=None, **trainer):
    cfg = compose(tiny + [f"trainer.{k}={v}" for k, v in trainer.items()])
    torch.manual_seed(0)
    return fit(build_model(cfg), frontend_from(cfg), load_split(cfg.data, "train"),
               TrainerSettings.from_config(cfg.trainer), out, validate=validate, progress=False)


def _logged(out):
    return [json.loads(line) for line in open(out / "train_log.jsonl")]


def test_a_run_killed_after_its_last_checkpoint_reports_its_last_logged_loss(tmp_path, tiny):
    # a kill between fit's final checkpoint and done.json: the same call again resumes at the last step
    settings = {"max_steps": 4, "log_every": 3, "checkpoint_every": 2, "val_every": 0}
    first = _fit_tiny(tiny, tmp_path, **settings)
    again = _fit_tiny(tiny, tmp_path, **settings)
    assert again.resumed_from == again.steps == 4
    assert again.final_loss == first.final_loss == _logged(tmp_path)[-1]["loss"]


def test_a_resume_between_two_logs_logs_the_same_mean_loss_as_no_kill(tmp_path, tiny):
    settings = {"max_steps": 4, "log_every": 4, "checkpoint_every": 1, "val_every": 3}
    _fit_tiny(tiny, tmp_path / "ref", validate=lambda model, step: {}, **settings)

    def killed_at_3(model, step):       # before step 3's checkpoint: last.pt holds step 2, mid-window
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        _fit_tiny(tiny, tmp_path / "killed", validate=killed_at_3, **settings)
    resumed = _fit_tiny(tiny, tmp_path / "killed", validate=lambda model, step: {}, **settings)
    assert resumed.resumed_from == 2
    assert resumed.final_loss == pytest.approx(_logged(tmp_path / "ref")[-1]["loss"], rel=1e-5)


def test_a_checkpoint_from_before_losses_were_kept_resumes_with_the_log_lines_loss(tmp_path):
    from benchmark.fit import _logged_loss

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 2, "loss": 0.5}\n{"step": 4, "loss": 0.25}\n{"step": 6, "loss": 0.1}\n{"step": 8, "lo')
    assert _logged_loss(log, 4) == 0.25           # step 6 was logged after the checkpoint, then lost to a kill
    assert _logged_loss(log, 8) == 0.1
    assert math.isnan(_logged_loss(log, 1)) and math.isnan(_logged_loss(tmp_path / "none.jsonl", 4))
