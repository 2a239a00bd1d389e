"""`python -m benchmark.report [study=NAME] [results=DIR] [reports=DIR] [studies=DIR] [reference=true]`.

Without study=: every study with results, then the scorecard index.html; with it: that study's
page, then the scorecard. A user's runs are read from runs/ and their pages written to runs/reports/,
each with a Reproduction section against the committed reference; reference=true rebuilds the
committed reference's own pages (results/ into reports/), as its reference runs do."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from benchmark.outputs import REFERENCE_RESULTS, RUNS, RUNS_REPORTS, choose
from benchmark.preflight import PreflightError

KEYS = {"study": None, "results": None, "reports": None, "studies": "studies", "reference": "false"}


def main(argv: Sequence[str] | None = None) -> int:
    args = dict(KEYS)
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        defaults = ", ".join(f"{k}={v}" for k, v in {**KEYS, "results": RUNS, "reports": RUNS_REPORTS}.items() if v)
        print("usage: " + __doc__.strip().replace("`", "") + "\n\nRebuilds REPORTS/NAME.html (and "
              f"RESULTS/NAME/pairs.csv) from RESULTS/NAME/cells.csv; defaults: {defaults}")
        return 0
    for item in argv:
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS:
            print(f"error: argument {item!r}: expected one of {', '.join(k + '=' for k in KEYS)}",
                  file=sys.stderr)
            return 2
        args[key] = value
    # Imported once the arguments are known good: pandas, matplotlib and seaborn take seconds to load,
    # which --help and a mistyped key need not wait for.
    # lazily: build imports matplotlib and seaborn, which --help does not need
    from benchmark.report.build import build_report, preflight
    from benchmark.report.index import build_index
    from benchmark.report.index import preflight as index_preflight
    from benchmark.report.load import ReportError

    if args["reference"] not in ("true", "false"):
        print(f"error: reference={args['reference']}: expected true or false", file=sys.stderr)
        return 2
    try:
        results, reports = choose(args["results"], args["reports"], args["reference"] == "true")
    except PreflightError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    studies = Path(args["studies"])
    names = ([args["study"]] if args["study"] else
             sorted(p.stem for p in studies.glob("*.y*ml") if (results / p.stem / "cells.csv").is_file()))
    try:
        # Every study's inputs and outputs before the first page: a bad file in the last study
        # would otherwise be found after the others' pages and pairs.csv were rewritten.
        for name in names:
            preflight(name, results, reports, studies)
        index_preflight(results, reports, studies)
        for name in names:
            print(build_report(name, results, reports, studies,
                               reference_dir=None if args["reference"] == "true" else REFERENCE_RESULTS))
        print(build_index(results, reports, studies))
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
