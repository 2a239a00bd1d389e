"""The gradient noise scale of a trained run: is a larger batch a lever at equal compute?

    python perf/gradient_noise.py RUN_DIR [--checkpoint FILE] [--batches 256] [--threads 1]

McCandlish et al. (2018, "An Empirical Model of Large-Batch Training"): with G the true gradient
and Σ the per-example covariance of the gradient, a batch of B examples has E|G_B|² = |G|² + tr(Σ)/B.
The simple noise scale B_noise = tr(Σ)/|G|² sets the trade between steps S and examples E to reach
a given loss: E ≈ E_min·(1 + B/B_noise), S ≈ S_min·(1 + B_noise/B). Well below B_noise a larger
batch learns as much per example in fewer steps, so at equal compute it pays only where the
hardware runs more examples a second at that batch (perf/train_throughput.py --batch N); near or
above B_noise it wastes examples. Either way a larger batch never learns more per example.

K gradients of the training loss at the run's batch b, with its training weights (not the EMA),
precision and data, on fresh batches and noise draws. Independent batches give E[g_i·g_j] = |G|²
for i ≠ j and E|g_i|² = |G|² + tr(Σ)/b, so B_noise = b·(mean g_i·g_i − mean g_i·g_j) / mean g_i·g_j
(the same as the paper's two-batch-size estimate with batches b and K·b). The interval is a bootstrap
of |G|² over the K batches: near a minimum |G|² cannot be told from 0 and B_noise has a lower bound
only. The paper defines it for plain gradients; under Adam it is the usual proxy.
"""
import argparse
import json

import numpy as np
import torch
from omegaconf import OmegaConf

from benchmark.config import fresh_model, trainer_settings
from benchmark.data import load_split
from benchmark.fit import epoch_batches, load_checkpoint, spectrograms
from benchmark.runtime import autocast, resolve_precision


def noise_scale(gram: np.ndarray, batch: int) -> tuple[float, float, float]:
    """(|G|², tr(Σ), B_noise) from the Gram matrix of K independent batch gradients at batch `batch`."""
    k = len(gram)
    if k < 2:
        raise ValueError("the noise scale needs at least two batch gradients")
    off = ~np.eye(k, dtype=bool)
    g2 = float(gram[off].mean())                       # E[g_i·g_j] = |G|², i ≠ j
    trace = batch * (float(np.diag(gram).mean()) - g2)  # E|g_i|² − |G|² = tr(Σ)/b
    return g2, trace, trace / g2


def bootstrap(gram: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of |G|² over batches drawn with replacement (a batch drawn twice is never
    paired with itself: its product with itself is a diagonal term, not an estimate of |G|²)."""
    rng = np.random.default_rng(seed)
    k = len(gram)
    out = []
    for _ in range(draws):
        idx = rng.integers(0, k, k)
        same = idx[:, None] == idx[None, :]
        if not same.all():
            out.append(gram[np.ix_(idx, idx)][~same].mean())
    return tuple(float(q) for q in np.percentile(out, [2.5, 97.5]))


def interval(trace: float, g2_lo: float, g2_hi: float) -> tuple[float, float]:
    """B_noise's interval from |G|²'s: near a minimum |G|² may not be told from 0, and then B_noise
    has only a lower bound (the upper end is infinite)."""
    return (trace / g2_hi if g2_hi > 0 else float("inf"), trace / g2_lo if g2_lo > 0 else float("inf"))


def batch_gradients(model, frontend, data, settings, device, precision, count: int, seed: int):
    """`count` flattened gradients of the training loss, one per fresh batch and noise draw."""
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator(device=device).manual_seed(seed)
    model.train()
    grads, losses = [], []
    epoch = 0
    while len(grads) < count:
        for batch in epoch_batches(data, settings, seed, epoch):
            if len(grads) == count:
                break
            x0, y, mask = spectrograms(frontend, batch, device)
            with autocast(precision, device):
                loss = model.loss(x0, y, mask, gen)[0]
            model.zero_grad(set_to_none=True)
            loss.backward()
            grads.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().float()
                                    for p in params]))
            losses.append(loss.item())
        epoch += 1
    return torch.stack(grads), float(np.mean(losses))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a model folder (config.yaml and last.pt)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint of that run (default: RUN/last.pt)")
    p.add_argument("--batches", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=12345, help="batches and noise draws (the run trained on seed 0)")
    a = p.parse_args()
    if a.batches < 2:
        p.error("--batches: the noise scale needs at least two batch gradients")
    cfg = OmegaConf.load(f"{a.run}/config.yaml")
    cfg.trainer.threads = a.threads
    model, frontend, device = fresh_model(cfg)
    state = load_checkpoint(a.checkpoint or f"{a.run}/last.pt", device)
    model.load_state_dict(state["model"])               # the training weights, whose gradient Adam follows
    model.to(device)
    settings = trainer_settings(cfg)
    precision = resolve_precision(settings.precision, device)
    grads, loss = batch_gradients(model, frontend, load_split(cfg.data, "train"), settings, device,
                                  precision, a.batches, a.seed)
    gram = (grads @ grads.T).double().cpu().numpy()
    g2, trace, b_noise = noise_scale(gram, settings.batch_size)
    g2_lo, g2_hi = bootstrap(gram)
    lo, hi = interval(trace, g2_lo, g2_hi)
    row = {"run": a.run, "step": state.get("step"), "batch": settings.batch_size, "batches": a.batches,
           "precision": precision, "loss": loss, "G2": g2, "G2_95": [g2_lo, g2_hi], "trace_sigma": trace,
           "B_noise": b_noise, "B_noise_95": [lo, hi]}
    print(json.dumps(row))
    print(f"{a.run} step {row['step']}: loss {loss:.4f}, |G|² {g2:.3g} [{g2_lo:.3g}, {g2_hi:.3g}], "
          f"tr(Σ) {trace:.3g}: B_noise ≈ {b_noise:.0f}, 95 % [{lo:.0f}, {hi:.0f}] examples at batch "
          f"{settings.batch_size} ({a.batches} batches)")


if __name__ == "__main__":
    main()
