"""Learning curve: validation metrics against training minutes, for several samplers at once.

    python perf/learning_curve.py --steps 4000 --val-every 1000       # the embedded recipe
    python perf/learning_curve.py --naive --minutes 20                # the naive settings (docs/embedded-recipe.md)
    python perf/learning_curve.py model.kind=predictive --minutes 10  # the predictive baseline
    python perf/learning_curve.py --steps 4000 --val-every 1000 --splits valid,real --config-sampler
                                                                      # off-domain: the real split
    python perf/learning_curve.py --steps 16000 --val-every 4000 --config-sampler --spread 2 sde=...
                                                                      # and the walk's spread share

Trains one configuration (the embedded default unless overridden) and, every --val-every steps,
enhances the first --val-utterances utterances of each of --splits (valid: the training data's
validation split; real: the real-recordings split, benchmark/data/real.py) with the EMA weights under each sampler
below and scores them. The first row is the noisy input. Prints one table; the numbers are what
the embedded recipe was tuned on. --steps trains a step budget (what the cosine decay needs); --minutes
trains for wall-clock minutes at a constant rate; --val-minutes validates each time that many
training minutes have passed instead of every --val-every steps (perf/gpu_session.py: PESQ-WB by
minute); the minutes printed and the --minutes budget count training only, validation excluded, so
machines that validate at different speeds are compared at the same training time. --out keeps the
model folder, and with it the curve: a checkpoint every --checkpoint-every steps and every validation's
rows in curve.jsonl, so the same command after a kill (or on the next machine, given the folder) goes
on from the last checkpoint and prints the whole curve.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from sampler_sweep import METRICS, mean_scores  # perf/, on the path when run as a script

from benchmark.config import cell_hash, compose, fresh_model, sampler_from_config, training_hash
from benchmark.data import load_split
from benchmark.diffusion.samplers import build_sampler
from benchmark.fit import LAST, TrainerSettings, fit, load_checkpoint
from benchmark.store import convergence

CURVE = "curve.jsonl"      # with --out: every validation's rows, so a rerun prints the whole curve
# The studied system's row label: the configuration's own sampler (its N follows), or the predictive model.
OWN_SAMPLER, PREDICTIVE = "the config's sampler", "predictive"

SAMPLERS = {
    "one step D(σ_max)": ("euler", dict(steps=1, scaling="none")),
    "Heun N=4 σ-space from σ 0.25 churn ∞": ("edm", dict(steps=4, scaling="none", sigma_start=0.25)),
    "Heun N=4 x-space from σ 0.25 churn ∞": ("edm", dict(steps=4, scaling="sde", sigma_start=0.25)),
    "Heun N=4 σ-space from σ 0.25 churn 0": ("edm", dict(steps=4, churn=0, scaling="none", sigma_start=0.25)),
    "Heun N=4 σ-space from σ 0.15 churn ∞": ("edm", dict(steps=4, scaling="none", sigma_start=0.15)),
    "Heun N=8 x-space (brever)": ("edm", dict(steps=8, churn=0)),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=12)
    p.add_argument("--steps", type=int, default=None, help="train this many steps instead (cosine decay needs it)")
    p.add_argument("--val-every", type=int, default=300)
    p.add_argument("--val-minutes", type=float, default=None,
                   help="validate each time this many training minutes have passed (instead of --val-every)")
    p.add_argument("--val-utterances", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2, help="metric processes")
    p.add_argument("--naive", action="store_true",
                   help="the issue's naive settings instead of the recipe: n_fft 512, lr 5e-4, no decay")
    p.add_argument("--splits", default="valid", help="comma-separated: valid, real, test, ...")
    p.add_argument("--config-sampler", action="store_true", help="only the config's own sampler")
    p.add_argument("--one-step", action="store_true", help="with --config-sampler: one step D(σ_max) too")
    p.add_argument("--spread", type=int, default=0, metavar="K",
                   help="also print the config sampler's spread share (posterior_spread.py) from K ≥ 2 walks "
                        "at every validation: 0.5 is a calibrated sampler, above it the walk is over-dispersed")
    p.add_argument("--spread-utterances", type=int, default=50, help="the first this many of each split")
    p.add_argument("--out", default=None, help="keep the trained model here (default: a temporary folder)")
    p.add_argument("--checkpoint-every", type=int, default=250,
                   help="with --out: steps between the checkpoints a rerun goes on from")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    if a.spread and a.spread < 2:
        p.error("--spread needs at least two walks")
    budget = ([f"trainer.max_steps={a.steps}", "trainer.max_minutes=null"] if a.steps else
              ["trainer.max_steps=null", f"trainer.max_minutes={a.minutes}", "trainer.lr_decay=none"])
    naive = ["frontend.n_fft=512", "trainer.lr=0.0005", "trainer.lr_decay=none"] if a.naive else []
    val_every = 5 if a.val_minutes else a.val_every     # with --val-minutes: look every 5 steps, validate on the minute
    checkpoint_every = a.checkpoint_every if a.out else 100000     # a temporary folder is not resumed
    cfg = compose(budget + naive + a.overrides + [
                                 f"trainer.val_every={val_every}", f"trainer.checkpoint_every={checkpoint_every}"])
    curve = Path(a.out) / CURVE if a.out else None
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
    if curve is not None and (Path(a.out) / "config.yaml").is_file():
        kept = OmegaConf.load(Path(a.out) / "config.yaml")
        if (training_hash(kept), cell_hash(kept)) != (training_hash(cfg), cell_hash(cfg)):
            p.error(f"{a.out} holds a curve of another model or sampler (its config.yaml differs): "
                    f"give another --out, or delete it to start again")
    model, frontend, device = fresh_model(cfg)
    splits = {}
    for name in a.splits.split(","):
        ds = load_split(cfg.data, name)
        splits[name] = [ds[i] for i in range(min(a.val_utterances, len(ds)))]
    own = None if cfg.model.kind == "predictive" else sampler_from_config(cfg, model)
    if a.spread and own is not None:
        from posterior_spread import spread_share, walks  # not at the top: it imports this module's SAMPLERS
    samplers = ({PREDICTIVE: None} if own is None
                else {f"{OWN_SAMPLER} (N={cfg.sampler.steps})": own,
                      **{k: build_sampler(n, model.sde, **s) for k, (n, s) in SAMPLERS.items()
                         if not a.config_sampler or (a.one_step and k == "one step D(σ_max)")}})
    # A rerun goes on from the checkpoint: its clock and what was validated up to it carry over
    # (validations after it are made again, so their rows are dropped).
    asked = {k: getattr(a, k) for k in ("splits", "val_utterances", "val_every", "val_minutes", "config_sampler",
                                         "one_step", "spread", "spread_utterances")}
    rows, spreads, validating, elapsed = _kept(curve, asked)   # validating: seconds spent validating, validations done
    t0 = time.perf_counter()
    settings = TrainerSettings.from_config(cfg.trainer)
    if settings.max_minutes is not None:
        settings.max_minutes = a.minutes + validating[0] / 60

    def keep(record):
        if curve is not None:
            with open(curve, "a") as f:
                f.write(json.dumps(record) + "\n")

    def validate(m, step):
        started = time.perf_counter()
        train_min = (elapsed + started - t0 - validating[0]) / 60
        if a.val_minutes and train_min < a.val_minutes * (validating[1] + 1) and not finishing(train_min, step):
            return None
        scores = {}                   # the studied system on the first split: val_log.jsonl, for store.convergence
        for split, items in splits.items():
            for label, sampler in samplers.items():
                inp, out = mean_scores(m, frontend, items, sampler, device, jobs=a.jobs)
                scores = scores or {k: float(out[k]) for k in METRICS}
                if not any(r[2] == split and r[3] == "noisy input" for r in rows):
                    rows.append(("—", 0, split, "noisy input", *[inp[k] for k in METRICS]))
                    keep({"row": rows[-1]})
                rows.append((f"{train_min:.1f}", step, split, label, *[out[k] for k in METRICS]))
                keep({"row": rows[-1]})
                print(f"{train_min:6.1f} min  step {step:5d}  {split:6s} {label:30s} " +
                      "  ".join(f"{k} {out[k]:.3f}" for k in METRICS), flush=True)
            if a.spread and own is not None:
                few = items[:a.spread_utterances]
                draws = walks(m, frontend, few, own, device, a.spread)
                spreads.append((f"{train_min:.1f}", step, split, f"{a.spread} walks, {len(few)} utterances",
                                spread_share(few, draws)))
                keep({"spread": spreads[-1]})
                print(f"{train_min:6.1f} min  step {step:5d}  {split:6s} spread share of one walk's error "
                      f"({spreads[-1][3]}): {spreads[-1][4]:.2f}", flush=True)
        validating[0] += time.perf_counter() - started
        validating[1] += 1
        keep({"validated": step, "seconds": time.perf_counter() - started})
        if settings.max_minutes is not None:      # fit's budget counts wall-clock: give validation's time back
            settings.max_minutes = a.minutes + validating[0] / 60
        return {"val_score": float(np.nan), **scores}       # val_score NaN: no best.pt, the last model is the one

    def finishing(train_min, step):
        """fit validates once more after its last step: that one always runs."""
        return step >= a.steps if a.steps else train_min >= a.minutes

    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or tmp
        Path(out).mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, Path(out) / "config.yaml")      # a model folder: `benchmark.evaluate` reads it
        fit(model, frontend, load_split(cfg.data, "train"), settings, out,
            seed=int(cfg.seed), device=device, validate=validate, progress=False)
    print(f"\n{'min':>5s} {'step':>5s}  {'split':6s} {'system':30s} " + " ".join(f"{k:>8s}" for k in METRICS))
    for r in sorted(rows, key=lambda r: (list(splits).index(r[2]), r[1])):
        print(f"{r[0]:>5s} {r[1]:5d}  {r[2]:6s} {r[3]:30s} " + " ".join(f"{v:8.3f}" for v in r[4:]))
    found = convergence(Path(out)) if a.out else None
    if found is not None:
        print(f"\nconvergence ({next(iter(splits))}, {next(iter(samplers))}): {found['metric']} "
              f"{found['from_value']:.3f} at step {found['from_step']} → {found['to_value']:.3f} at "
              f"{found['steps']}, gain {found['gain']:+.3f} over the last quarter: "
              f"{'converged' if found['converged'] else 'not converged'} (limit {found['limit']})")
    if spreads:
        print(f"\n{'min':>5s} {'step':>5s}  {'split':6s} spread share of one walk's error (calibrated: 0.5)")
        for r in sorted(spreads, key=lambda r: (list(splits).index(r[2]), r[1])):
            print(f"{r[0]:>5s} {r[1]:5d}  {r[2]:6s} {r[4]:.2f}  ({r[3]})")


def _kept(curve: Path | None, asked: dict):
    """The rows, spread shares, [validation seconds, validations] and training clock (s, validation
    included, as fit counts it) a rerun goes on from: those of validations at or before last.pt's step.
    The curve file is rewritten to them (a line cut by a kill goes too)."""
    if curve is None:
        return [], [], [0.0, 0], 0.0
    records = read_records(curve)
    if records and records[0].get("asked", asked) != asked:
        raise SystemExit(f"{curve}: a curve validated with other options ({records[0]['asked']}): "
                         f"give another --out, or delete it to start again")
    state = load_checkpoint(curve.parent / LAST) if (curve.parent / LAST).is_file() else {"step": -1, "elapsed": 0.0}
    upto = state["step"]
    kept = [{"asked": asked}] + [r for r in records if "asked" not in r and _step(r) <= upto]
    curve.write_text("".join(json.dumps(r) + "\n" for r in kept))
    rows = [tuple(r["row"]) for r in kept if "row" in r]
    spreads = [tuple(r["spread"]) for r in kept if "spread" in r]
    seconds = [r["seconds"] for r in kept if "validated" in r]
    return rows, spreads, [sum(seconds), len(seconds)], float(state["elapsed"])


def read_records(curve: Path) -> list[dict]:
    """A curve.jsonl's records up to a line cut by a kill (it was the last line written); [] without
    the file."""
    records = []
    for line in curve.read_text().splitlines() if curve.is_file() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def _step(record: dict) -> int:
    """The training step a curve.jsonl record was validated at."""
    if "validated" in record:
        return record["validated"]
    return (record.get("row") or record["spread"])[1]


if __name__ == "__main__":
    main()
