"""perf/plot_curves.py draws the budget curves from the curve.jsonl files learning_curve keeps."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "perf"))
import plot_curves  # noqa: E402


def _curve(path: Path, system: str, by_step: dict, cut: bool = False) -> Path:
    lines = [{"asked": {"splits": "test"}}, {"row": ["—", 0, "test", "noisy input", 1.5, 0.75, 6.6]}]
    for step, score in by_step.items():
        lines += [{"row": ["1.0", step, "test", system, score, 0.7, 9.0]},
                  {"row": ["1.0", step, "test", "one step D(σ_max)", 9.9, 0.9, 19.0]},
                  {"validated": step, "seconds": 1.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + ('{"row": ["1.0", 9' if cut else ""))
    return path


def test_the_studied_system_is_read_by_step_and_a_cut_line_ends_the_curve(tmp_path):
    path = _curve(tmp_path / "c.jsonl", "the config's sampler (N=8)", {8000: 1.7, 4000: 1.6}, cut=True)
    rows = plot_curves.studied(plot_curves.read_curve(path), "test")
    assert list(rows["step"]) == [4000, 8000] and list(rows["pesq_wb"]) == [1.6, 1.7]
    pred = plot_curves.studied(plot_curves.read_curve(_curve(tmp_path / "p.jsonl", "predictive", {4000: 2.0})), "test")
    assert list(pred["pesq_wb"]) == [2.0]
    with pytest.raises(SystemExit, match="no studied system on split real"):
        plot_curves.studied(plot_curves.read_curve(path), "real")


def test_the_figure_is_written_and_a_file_without_rows_is_named(tmp_path):
    a = _curve(tmp_path / "a.jsonl", "the config's sampler (N=8)", {4000: 1.6, 8000: 1.7})
    out = tmp_path / "fig" / "curves.png"
    run = subprocess.run([sys.executable, "perf/plot_curves.py", f"rec={a}", "--reference", "results/headline",
                          "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"asked": {}}\n')
    run = subprocess.run([sys.executable, "perf/plot_curves.py", f"rec={empty}", "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "empty.jsonl: no validation rows" in run.stderr
