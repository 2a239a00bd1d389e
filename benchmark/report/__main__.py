"""`python -m benchmark.report [study=NAME] [results=DIR] [reports=DIR] [studies=DIR]`.

Without study=: every study with results, then the scorecard reports/index.html; with it: that
study's page, then the scorecard."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

KEYS = {"study": None, "results": "results", "reports": "reports", "studies": "studies"}


def main(argv: Sequence[str] | None = None) -> int:
    args = dict(KEYS)
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        defaults = ", ".join(f"{k}={v}" for k, v in KEYS.items() if v)
        print("usage: " + __doc__.strip().replace("`", "") + "\n\nRebuilds reports/NAME.html (and "
              f"results/NAME/pairs.csv) from results/NAME/cells.csv; defaults: {defaults}")
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

    results, reports, studies = Path(args["results"]), Path(args["reports"]), Path(args["studies"])
    names = ([args["study"]] if args["study"] else
             sorted(p.stem for p in studies.glob("*.y*ml") if (results / p.stem / "cells.csv").is_file()))
    try:
        # Every study's inputs and outputs before the first page: a bad file in the last study
        # would otherwise be found after the others' pages and pairs.csv were rewritten.
        for name in names:
            preflight(name, results, reports, studies)
        index_preflight(results, reports, studies)
        for name in names:
            print(build_report(name, results, reports, studies))
        print(build_index(results, reports, studies))
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
