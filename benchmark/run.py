"""Run a study: `python -m benchmark.run study=<name> [key=value …] [options]`.

Trains and evaluates every cell of studies/<name>.yaml, logs to MLflow, writes
runs/<name>/cells.csv as cells finish, and ends with runs/reports/<name>.html, which says whether each
cell reproduced the committed reference (results/<name>/). Run the same command
again after a crash: finished cells are skipped, failed and killed ones are retried.
Bad input (the study file, --results, --reports, --models, data.root, device=, an unreadable
meta.json) is refused in one line before any work, --dry-run included: nothing is created.

Options:
  --dry-run            print the resolved grid (hash, axes, train or reuse, NFE) and exit
  --jobs N|auto        run N cells at once on this machine (one torch thread share each);
                       auto (default): 2 on a CPU with 2 or more cores (training runs
                       faster than one job with both threads: 1.2x), 1 on CUDA (one process per GPU)
  --storage URL        Optuna storage shared by workers on several machines (PostgreSQL URL);
                       default: a journal file under results/<name>/
  --worker             join a study that another invocation (the coordinator) set up on a
                       shared --storage: claim queued cells and run them until none is left
                       or runs elsewhere (taking over those whose heartbeat stops); never
                       enqueue. One per GPU, on any number of machines. Exit 3 when the
                       coordinator has not set the study up yet (scripts/slurm-array.sh waits)
  --tracking-uri URI   MLflow tracking URI (a server); default: sqlite under results/
  --results DIR        where results and stores go (default: runs; git ignores it)
  --models DIR         where trained models go, one folder per training config (default:
                       <results>/models); workers on machines that share no --results all give
                       one shared folder here (a network file system)
  --models reference   the reference run's shipped weights (benchmark/weights/, listed by
                       `python -m benchmark.enhance --list-models`), made into model folders under
                       <results>/models-reference: their cells are scored, not trained
  --grace SECONDS      on a PostgreSQL --storage: how long a worker's heartbeat may be silent
                       before its cell, and the model it trains, are taken over (default 180)
  --reports DIR        where the HTML report goes (default: runs/reports)
  --reference          write the committed reference run (results/, reports/) on purpose; without
                       it a run never writes there, and its report checks it against the reference
  --max-retries N      retries of a failed cell (default 2)
  --fail-fast          stop at the first failed cell instead of carrying on
  --no-report          skip the HTML report
  --quiet              no progress bars
Any key=value sets a configuration key for every cell (see benchmark/configs/), e.g.
  trainer.max_steps=500  data=folder data.root=DIR  scale=paper  device=cuda
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import outputs
from .config import GROUPS, group_choices
from .driver.coordinator import NOT_SET_UP, auto_jobs, run_study  # noqa: F401  (re-exported for launchers)
from .driver.grid import STUDIES_DIR
from .preflight import PreflightError, writable_dir


def _count(least: int, auto: bool = False):
    def parse(text: str) -> int | str:
        if auto and text == "auto":
            return text
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if n < least:
            raise argparse.ArgumentTypeError(f"{n}: must be at least {least}")
        return n
    return parse


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not s > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be more than 0 seconds")
    return s


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.run", add_help=False)
    p.add_argument("items", nargs="*")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--jobs", type=_count(1, auto=True), default="auto")
    p.add_argument("--storage")
    p.add_argument("--tracking-uri")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--results")
    p.add_argument("--reference", action="store_true")
    p.add_argument("--models")
    p.add_argument("--grace", type=_seconds, default=180.0)
    p.add_argument("--reports")
    p.add_argument("--max-retries", type=_count(0), default=2)
    p.add_argument("--fail-fast", action="store_true")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    return p


def help_text() -> str:
    studies = sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))
    lines = [__doc__, "Studies (studies/*.yaml): " + ", ".join(studies) if studies else "No studies/ here.",
             "Configuration groups (benchmark/configs/<group>/):"]
    lines += [f"  {g}: {', '.join(group_choices(g))}" for g in (*GROUPS, "scale")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_intermixed_args(argv)
    if args.help:
        print(help_text())
        return 0
    try:
        results, reports = outputs.choose(args.results, args.reports, args.reference)
    except PreflightError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.results, args.reports = str(results), str(reports)
    if args.models == "reference":
        try:
            args.models = str(shipped_models(results))
        except ValueError as e:                  # ShippedError, PreflightError: one line
            print(f"error: --models reference: {e}", file=sys.stderr)
            return 2
    return run_study(args, argv)


def shipped_models(results: Path) -> Path:
    """<results>/models-reference with every shipped model in it as a trained model folder (each
    file checked against its sha256 first); the study's other models train there."""
    from . import shipped  # torch and safetensors: not for --help

    root = results / "models-reference"
    if not shipped.list_models():
        raise PreflightError(f"no model is shipped in this version ({shipped.WEIGHTS_DIR / shipped.INDEX} lists "
                             "none): drop --models reference, or see the README's shipped models")
    writable_dir(root, "--models reference")
    made = shipped.materialize_all(root)
    print(f"--models reference: {len(made)} shipped model(s) ready in {root}", flush=True)
    return root


if __name__ == "__main__":
    sys.exit(main())
