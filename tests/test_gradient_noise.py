"""perf/gradient_noise.py: the gradient noise scale B_noise = tr(Σ)/|G|² of a run."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gradient_noise", REPO / "perf" / "gradient_noise.py")
gradient_noise = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gradient_noise)


def _batch_gradients(count, batch, dim=400, trace=120.0, seed=0):
    """Gradients of `count` independent batches of `batch` examples: G with |G|² = 1, per-example
    covariance (trace/dim)·I, so B_noise = trace."""
    rng = np.random.default_rng(seed)
    g = np.zeros(dim)
    g[0] = 1.0
    return g + rng.normal(scale=np.sqrt(trace / dim / batch), size=(count, dim))


def test_the_noise_scale_of_known_gradients_is_recovered():
    for batch, trace in [(8, 120.0), (32, 120.0), (8, 20.0)]:
        grads = _batch_gradients(3000, batch, trace=trace)
        g2, tr, b_noise = gradient_noise.noise_scale(grads @ grads.T, batch)
        assert abs(g2 - 1.0) < 0.05 and abs(tr / trace - 1) < 0.05 and abs(b_noise / trace - 1) < 0.08
        g2_lo, g2_hi = gradient_noise.bootstrap(grads[:400] @ grads[:400].T, draws=300)
        assert 0 < g2_lo < 1.0 < g2_hi
        lo, hi = gradient_noise.interval(tr, g2_lo, g2_hi)
        assert lo < trace < hi and hi - lo < trace


def test_a_gradient_not_told_from_zero_bounds_the_noise_scale_from_below():
    grads = _batch_gradients(64, 8, trace=4000.0) - np.eye(400)[0]        # G = 0: noise only
    g2, tr, _ = gradient_noise.noise_scale(grads @ grads.T, 8)
    g2_lo, g2_hi = gradient_noise.bootstrap(grads @ grads.T, draws=300)
    assert g2_lo < 0 < g2_hi
    lo, hi = gradient_noise.interval(tr, g2_lo, g2_hi)
    assert lo > 1000 and hi == float("inf")


def test_the_mean_over_batches_alone_would_be_biased():
    # |mean g|² over K batches is |G|² + tr(Σ)/(K·b): the off-diagonal mean removes that term
    grads = _batch_gradients(50, 8, dim=4000, trace=400.0)
    gram = grads @ grads.T
    assert gram.mean() > 1.7                            # 1 + 400/400 in expectation
    assert abs(gradient_noise.noise_scale(gram, 8)[0] - 1.0) < 0.15


def test_a_trained_run_gets_its_noise_scale(tiny_model):
    folder, cfg = tiny_model
    done = subprocess.run([sys.executable, "perf/gradient_noise.py", str(folder), "--batches", "4"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.splitlines()[0])
    assert row["step"] == 6 and row["batch"] == cfg.trainer.batch_size and row["batches"] == 4
    assert np.isfinite(row["B_noise"]) and row["trace_sigma"] > 0
    refused = subprocess.run([sys.executable, "perf/gradient_noise.py", str(folder), "--batches", "1"], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "at least two" in refused.stderr
