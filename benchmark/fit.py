"""fit(): Adam, EMA, mixed precision, validation, checkpoints, and resume after any kill.

The loop is the same for both model kinds and both scales. Budgets are in steps (reproducible),
with epochs and wall-clock minutes as optional extra limits. `last.pt` is written every
`checkpoint_every` steps, atomically, with the optimiser, EMA, RNG states and the position in the
epoch; the same call after a `kill -9` resumes from it and ends at the same step count.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .audio.stft import Frontend, peak_normalise
from .data.batching import train_batches
from .diffusion.losses import frame_mask
from .runtime import autocast, resolve_precision

# The checkpoint files fit() keeps in its folder (store.py owns the rest of a model folder); VAL_LOG
# holds each validation's metrics (the learning curve a convergence check reads, store.convergence).
LAST, BEST, LOG, VAL_LOG = "last.pt", "best.pt", "train_log.jsonl", "val_log.jsonl"


@dataclass
class TrainerSettings:
    name: str = "embedded"
    max_steps: int | None = 2000
    max_epochs: int | None = None
    max_minutes: float | None = None
    batch_mode: str = "crop"          # crop: random crops (sgmse) | bucket: whole utterances (brever)
    batch_size: int = 8               # crop mode
    crop_seconds: float = 1.5
    batch_seconds: float = 32.0       # bucket mode: audio seconds per batch
    n_buckets: int = 10
    lr: float = 1e-4
    warmup_steps: int = 0             # linear learning-rate warm-up
    lr_decay: str = "none"            # none (brever) | cosine: to 0 at max_steps, after the warm-up
    ema_decay: float = 0.999
    ema_warmup: bool = True           # decay min(d, (1+k)/(10+k)): short runs forget the random init
    grad_clip: float = 0.0            # 0: none (brever)
    precision: str = "auto"           # auto | fp32 | bf16 | fp16 (CUDA)
    val_every: int = 500              # steps; 0: only at the end
    val_utterances: int = 8
    checkpoint_every: int = 100
    log_every: int = 25
    threads: int | None = None

    def __post_init__(self):
        if self.lr_decay not in ("none", "cosine"):
            raise ValueError(f"trainer.lr_decay={self.lr_decay!r} is not one of ['none', 'cosine']")
        if self.lr_decay == "cosine" and not self.max_steps:
            raise ValueError("trainer.lr_decay=cosine needs trainer.max_steps (the step it decays to 0 at)")

    @classmethod
    def from_config(cls, cfg) -> "TrainerSettings":
        d = dict(cfg)
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"trainer has no setting(s) {sorted(unknown)}")
        return cls(**d)


def learning_rate(settings: TrainerSettings, step: int) -> float:
    """Linear warm-up, then constant or a cosine decay to 0 at max_steps (a fixed step budget
    spends its last steps at a small rate instead of ending mid-stride)."""
    if settings.warmup_steps and step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    if settings.lr_decay == "cosine":
        span = max(settings.max_steps - settings.warmup_steps, 1)
        return settings.lr * 0.5 * (1 + math.cos(math.pi * min(step - settings.warmup_steps, span) / span))
    return settings.lr


class EMA:
    """Exponential moving average of parameters and buffers, used for validation and testing."""

    def __init__(self, model: torch.nn.Module, decay: float, warmup: bool):
        self.decay, self.warmup = decay, warmup
        self.shadow = [t.detach().clone() for t in self._tensors(model)]

    @staticmethod
    def _tensors(model):
        return list(model.parameters()) + [b for b in model.buffers() if b.dtype.is_floating_point]

    def update(self, model, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, [t.detach() for t in self._tensors(model)], 1 - d)

    def copy_to(self, model) -> None:
        with torch.no_grad():
            for s, t in zip(self.shadow, self._tensors(model)):
                t.copy_(s)

    def state_dict(self):
        return {"shadow": self.shadow}

    def load_state_dict(self, state):
        for s, t in zip(self.shadow, state["shadow"]):
            s.copy_(t)


@dataclass
class FitResult:
    steps: int
    epochs: int
    minutes: float
    final_loss: float
    best: dict
    resumed_from: int
    out_dir: str


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file and why."""


def load_checkpoint(path: str | Path, device="cpu") -> dict:
    """A checkpoint's tensors and plain data, never its code: `weights_only=True` refuses any other
    object, so a crafted file cannot run code when a user points `enhance model=` at it."""
    path = Path(path)
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused: it holds objects other than tensors and plain data "
            f"({str(e).strip().splitlines()[0][:200]}); this suite never writes such a file, and loading "
            f"it unrestricted could run code from it") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:   # truncated zip, not a torch file
        raise CheckpointError(f"{path}: unreadable checkpoint, truncated or not a PyTorch file "
                              f"({str(e).strip().splitlines()[0][:200]})") from None


def _logged_loss(log: Path, step: int) -> float:
    """The last loss train_log.jsonl holds at or before `step`: what a checkpoint written before
    checkpoints kept their loss resumes with (lines past it were logged after it, then lost to a kill)."""
    loss = float("nan")
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return loss
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:                      # a line cut by a kill
            continue
        if isinstance(entry, dict) and entry.get("step", step + 1) <= step and "loss" in entry:
            loss = float(entry["loss"])
    return loss


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)                      # atomic: a kill never leaves half a checkpoint


def plain_step(model, opt, x0, y, mask, generator, precision: str, device) -> float:
    """One optimiser step without fit()'s bookkeeping (no scaler, clipping or schedule): what the
    price measurement and the perf scripts time."""
    with autocast(precision, device):
        loss = model.loss(x0, y, mask, generator)[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def epoch_batches(train_set, settings: TrainerSettings, seed: int, epoch: int):
    """One epoch of the training batches as `settings` asks (crops or buckets), seeded by (seed, epoch)."""
    return train_batches(train_set, mode=settings.batch_mode, batch_size=settings.batch_size,
                         crop_seconds=settings.crop_seconds, batch_seconds=settings.batch_seconds,
                         n_buckets=settings.n_buckets, seed=seed, epoch=epoch)


def spectrograms(frontend: Frontend, batch: dict, device):
    clean, noisy = batch["clean"].to(device), batch["noisy"].to(device)
    _, noisy, clean = peak_normalise(noisy, clean)
    x0, y = frontend.stft(clean), frontend.stft(noisy)
    lengths = batch.get("lengths")
    mask = None
    if lengths is not None and bool((lengths < clean.shape[-1]).any()):
        mask = frame_mask(lengths, y.shape[-1], frontend.hop, device)
    return x0, y, mask


def fit(model, frontend: Frontend, train_set, settings: TrainerSettings, out_dir: str | Path, *,
        seed: int = 0, device=torch.device("cpu"), validate=None, log=None, progress: bool = True) -> FitResult:
    """Train `model` (a models.DiffusionModel or PredictiveModel) on `train_set`.

    validate(model_with_ema_weights, step) -> dict of metrics (or None) is called every `val_every`
    steps and at the end; `best.pt` keeps the EMA weights with the best `val_score` it returns.
    log(metrics: dict, step: int) receives training curves (MLflow in a study).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    precision = resolve_precision(settings.precision, device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    ema = EMA(model, settings.ema_decay, settings.ema_warmup)
    gen = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)
    step = epoch = batch_in_epoch = 0
    best = {"val_score": -math.inf}
    elapsed = 0.0
    last = out_dir / LAST
    validated_at = [-1]        # in the checkpoint: a resume after the final validation does not repeat it
    # The losses since the last log line and that line's loss, in the checkpoint too: a resume
    # mid-window logs the mean an unbroken run logs, and one at the final step (killed before its
    # done.json) still reports its final loss instead of NaN.
    running, last_loss = [], float("nan")
    if last.is_file():
        state = load_checkpoint(last, device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        ema.load_state_dict(state["ema"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        best, elapsed = state["best"], state["elapsed"]
        validated_at[0] = state.get("validated_at", -1)
        running = list(state.get("loss_window", []))
        last_loss = state["last_loss"] if "last_loss" in state else _logged_loss(out_dir / LOG, step)
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
    resumed_from = step

    def checkpoint():
        _save(last, {"model": model.state_dict(), "optimizer": opt.state_dict(), "ema": ema.state_dict(),
                     "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                     "epoch": epoch, "batch_in_epoch": batch_in_epoch, "best": best,
                     "elapsed": elapsed + time.perf_counter() - t0, "settings": asdict(settings),
                     "validated_at": validated_at[0], "loss_window": list(running), "last_loss": last_loss,
                     "scaler": scaler.state_dict() if scaler else None})

    def run_validation():
        if validate is None or validated_at[0] == step:
            return
        validated_at[0] = step
        backup = [t.detach().clone() for t in EMA._tensors(model)]
        ema.copy_to(model)
        model.eval()
        try:
            metrics = validate(model, step) or {}
        finally:
            with torch.no_grad():
                for b, t in zip(backup, EMA._tensors(model)):
                    t.copy_(b)
            model.train()
        scalars = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if scalars:
            with open(out_dir / VAL_LOG, "a") as f:       # a resume may repeat a step: readers keep the last
                f.write(json.dumps({"step": step, **scalars}) + "\n")
        if log and metrics:
            log({f"val_{k}": v for k, v in scalars.items()}, step)
        score = metrics.get("val_score")
        if score is not None and np.isfinite(score) and score > best["val_score"]:
            best.clear()
            best.update({"val_score": float(score), "step": step, **{k: float(v) for k, v in metrics.items()}})
            _save(out_dir / BEST, {"ema": ema.state_dict(), "step": step, "metrics": best})

    def done():
        minutes = (elapsed + time.perf_counter() - t0) / 60
        return ((settings.max_steps is not None and step >= settings.max_steps)
                or (settings.max_epochs is not None and epoch >= settings.max_epochs)
                or (settings.max_minutes is not None and minutes >= settings.max_minutes))

    t0 = time.perf_counter()
    model.train()
    bar = tqdm(total=settings.max_steps, initial=step, disable=not progress, desc="train", unit="step",
               dynamic_ncols=True, mininterval=1.0)
    with open(out_dir / LOG, "a") as jlog:
        while not done():
            batches = epoch_batches(train_set, settings, seed, epoch)
            for i, batch in enumerate(batches):
                if i < batch_in_epoch:
                    continue                    # resumed mid-epoch: the epoch's batches are seeded, skip the seen ones
                if done():
                    break
                x0, y, mask = spectrograms(frontend, batch, device)
                lr = learning_rate(settings, step)
                for group in opt.param_groups:
                    group["lr"] = lr
                with autocast(precision, device):
                    loss, _, _ = model.loss(x0, y, mask, gen)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(opt)
                else:
                    loss.backward()
                if settings.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                ema.update(model, step)
                step += 1
                batch_in_epoch = i + 1
                running.append(float(loss.detach()))
                if step % settings.log_every == 0 or done():
                    last_loss = float(np.mean(running))
                    running = []
                    rate = (step - resumed_from) / max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(loss=f"{last_loss:.4f}", steps_s=f"{rate:.2f}")
                    jlog.write(json.dumps({"step": step, "loss": last_loss, "lr": lr}) + "\n")
                    jlog.flush()                # readable while training, and kept if the process is killed
                    if log:
                        log({"train_loss": last_loss, "lr": lr}, step)
                bar.update(1)
                if settings.val_every and step % settings.val_every == 0 and not done():
                    run_validation()
                if step % settings.checkpoint_every == 0:
                    checkpoint()
            else:                               # the epoch ran out (not the budget)
                if batch_in_epoch == 0:
                    raise ValueError(f"the training set ({len(train_set)} utterances) gives no batch; "
                                     f"lower trainer.batch_size or trainer.batch_seconds")
                epoch += 1
                batch_in_epoch = 0
    bar.close()
    run_validation()
    checkpoint()
    return FitResult(steps=step, epochs=epoch, minutes=(elapsed + time.perf_counter() - t0) / 60,
                     final_loss=last_loss, best=best, resumed_from=resumed_from, out_dir=str(out_dir))


def load_weights(model, out_dir: str | Path, which: str = "last", device="cpu") -> dict:
    """Put the EMA weights of `last.pt` or `best.pt` into `model`; returns the checkpoint's info."""
    path = Path(out_dir) / f"{which}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint (train the model first)")
    state = load_checkpoint(path, device)
    if "state_dict" in state and "ema" not in state:       # model.pt: the exported EMA weights
        model.load_state_dict(state["state_dict"])
        return {"step": state.get("step"), "metrics": None}
    if "ema" not in state:
        raise CheckpointError(f"{path}: not a checkpoint of this suite (no EMA weights in it)")
    ema = EMA(model, 0.0, False)
    ema.load_state_dict(state["ema"])
    ema.copy_to(model)
    return {"step": state.get("step"), "metrics": state.get("metrics", state.get("best"))}
