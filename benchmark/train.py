"""Train one configuration into a folder: `python -m benchmark.train out=DIR [key=value …]`.

The same command again resumes from DIR/last.pt (after a crash or kill) and stops at the same step.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from .config import ConfigError, compose, parse_cli
from .fit import CheckpointError
from .store import train_model


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        own, overrides = parse_cli(argv, required=("out",))
        cfg = compose(overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        _, result = train_model(cfg, Path(own["out"]), progress=sys.stderr.isatty())
    except CheckpointError as e:
        print(f"error: {e} (delete it to train from scratch)", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
