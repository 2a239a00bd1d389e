"""The HTML report of a study: `python -m benchmark.report study=<name>`, or `build_report()`.

Reads studies/<name>.yaml and results/<name>/{cells.csv,meta.json}; writes reports/<name>.html
with ablation tables, seaborn plots and a claim check set against the paper's claims.
"""
from benchmark.report.build import build_report, render
from benchmark.report.load import ReportError

__all__ = ["build_report", "render", "ReportError"]
