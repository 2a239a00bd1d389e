import base64
import io

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from PIL import Image

from benchmark.report.plots import (
    cell_figure,
    cell_plot,
    heatmap,
    nfe_figure,
    nfe_plot,
    pareto_front,
    rtf_figure,
    thinned,
)

M = "pesq_wb"
METRICS = ["pesq_wb", "estoi", "si_sdr"]
REF = {M: (1.3, 0.04), "estoi": (0.7, 0.01), "si_sdr": (5.0, 0.5)}


def cells(n: int, nfe=16.0) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    return pd.DataFrame({"cell": [f"{i:08x}" for i in range(n)], "kind": "diffusion",
                         "display": [f"cell {i}" for i in range(n)],
                         "sde": ["ouve", "ouvp"] * (n // 2) + ["ouve"] * (n % 2),
                         "nfe": nfe, M: rng.uniform(1.2, 1.8, n), f"{M}_ci": 0.05})


def methods_frame() -> pd.DataFrame:
    """Three methods at several NFE each (beyond_paper's shape: SB-ODE 1/2/5, flow 1/2/5, SGMSE+ 60),
    PESQ, ESTOI and SI-SDR for each, two hosts, and a predictive baseline."""
    rows = [("SB-ODE", 1, 2.00), ("SB-ODE", 2, 1.95), ("SB-ODE", 5, 1.86), ("flow", 5, 1.66),
            ("flow", 1, 1.54), ("flow", 2, 1.81), ("SGMSE+", 60, 1.17)]
    frame = pd.DataFrame({"cell": [f"c{i}" for i in range(len(rows))], "kind": "diffusion",
                          "method": [r[0] for r in rows], "nfe": [float(r[1]) for r in rows],
                          M: [r[2] for r in rows]})
    frame["display"] = frame["method"] + ", NFE " + frame["nfe"].astype(int).astype(str)
    frame["label"] = frame["display"]
    frame["estoi"], frame["si_sdr"] = frame[M] / 2.5, frame[M] * 7
    frame["rtf"] = frame["nfe"] * 0.025
    frame["device"] = ["AVX512"] * 6 + ["AVX2"]
    predictive = {"cell": "p", "kind": "predictive", "method": "predictive baseline", "nfe": 1.0, M: 2.06,
                  "estoi": 0.81, "si_sdr": 15.0, "rtf": 0.06, "device": "AVX2", "display": "predictive",
                  "label": "predictive baseline"}
    frame = pd.concat([frame, pd.DataFrame([predictive])], ignore_index=True)
    for m in METRICS:
        frame[f"{m}_ci"] = 0.05
    return frame


COLOURS = {"SB-ODE": (0.8, 0.2, 0.2), "flow": (0.5, 0.4, 0.3), "SGMSE+": (0.9, 0.5, 0.8),
           "predictive baseline": (0.15, 0.15, 0.15)}


def method_lines(fig) -> list[dict]:
    """Per panel: method → (x, y) of the line drawn for it (plots.py tags each with its method)."""
    return [{line.get_gid(): (np.asarray(line.get_xdata()), np.asarray(line.get_ydata()))
             for line in ax.get_lines() if line.get_gid()} for ax in fig.axes]


def image(png: str) -> Image.Image:
    data = base64.b64decode(png)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data))


def test_cell_plot_is_a_png_that_grows_with_the_cells():
    small = image(cell_plot(cells(2), [M], REF))
    large = image(cell_plot(cells(12), [M], REF))
    assert large.height > small.height
    assert cell_plot(cells(3).assign(**{M: np.nan}), [M], REF) is None


def test_cell_plot_has_a_panel_per_metric_side_by_side():
    fig = cell_figure(methods_frame(), METRICS, REF, COLOURS)
    assert [ax.get_xlabel().split(" (mean")[0] for ax in fig.axes] == ["PESQ-WB", "ESTOI", "SI-SDR (dB)"]


def test_nfe_plot_only_when_nfe_varies():
    assert nfe_plot(cells(4), [M], REF) is None
    varied = cells(4).assign(nfe=[8.0, 8.0, 16.0, 60.0])
    predictive = pd.DataFrame({"cell": ["p"], "kind": ["predictive"], "display": ["pred"],
                               "sde": [""], "nfe": [1.0], M: [1.5], f"{M}_ci": [0.04]})
    assert image(nfe_plot(pd.concat([varied, predictive]), [M], {M: (1.3, float("nan"))})).width > 0


def test_nfe_plot_draws_one_line_per_method_through_its_cells_on_every_metric():
    frame = methods_frame()
    fig = nfe_figure(frame, METRICS, REF, COLOURS)
    panels = method_lines(fig)
    assert len(panels) == 3                                       # PESQ-WB, ESTOI and SI-SDR beside it
    diffusion = frame[frame["kind"] == "diffusion"]
    for metric, lines in zip(METRICS, panels):
        assert set(lines) == {"SB-ODE", "flow", "SGMSE+"}          # one line each, not one marker per cell
        for method, (x, y) in lines.items():
            own = diffusion[diffusion["method"] == method].sort_values("nfe")
            assert list(y) == list(own[metric])                   # its cells, joined in NFE order
            assert np.all(np.diff(x) > 0)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["SB-ODE", "flow", "SGMSE+"] and len(legend) == len(set(legend))


def test_one_colour_per_method_in_every_plot():
    frame = methods_frame()
    drawn = {}
    for fig in (cell_figure(frame, METRICS, REF, COLOURS), nfe_figure(frame, METRICS, REF, COLOURS),
                rtf_figure(frame, M, REF[M], COLOURS, {"AVX512": "AVX512", "AVX2": "AVX2"})):
        for line in (li for ax in fig.axes for li in ax.get_lines() if li.get_gid()):
            drawn.setdefault(line.get_gid(), set()).add(to_rgb(line.get_color()))
    assert drawn == {m: {to_rgb(c)} for m, c in COLOURS.items()}


def test_rtf_plot_has_a_panel_per_host_and_never_mixes_them():
    frame = methods_frame()
    fig = rtf_figure(frame, M, REF[M], COLOURS, {"AVX512": "AVX512", "AVX2": "AVX2"})
    assert [ax.get_title() for ax in fig.axes] == ["AVX512", "AVX2"]
    fast, slow = method_lines(fig)
    assert set(fast) == {"SB-ODE", "flow"} and set(slow) == {"SGMSE+"}


def test_nfe_ticks_that_would_print_over_each_other_are_thinned():
    assert thinned([7, 8, 15, 16, 31, 32, 59, 60]) == [7, 15, 31, 59]
    assert thinned([1, 2, 5, 15, 60]) == [1, 2, 5, 15, 60]
    fig = nfe_figure(methods_frame().assign(nfe=lambda d: d["nfe"].replace({2.0: 2.1})), [M], REF, COLOURS)
    ticks = fig.axes[0].get_xticks()
    assert np.all(np.log10(ticks[1:] / ticks[:-1]) >= 0.14)


def test_pareto_front_keeps_cells_nothing_cheaper_beats():
    nfe = np.array([8, 16, 16, 60, 4])
    score = np.array([1.5, 1.4, 1.7, 1.6, 1.2])
    assert list(pareto_front(nfe, score)) == [4, 0, 2]


def test_heatmap_needs_a_value():
    grid = pd.DataFrame([[1.4, np.nan], [1.5, 1.6]], index=pd.Index(["a", "b"], name="sde"),
                        columns=pd.Index(["x", "y"], name="sampler"))
    assert image(heatmap(grid, M)).width > 0
    assert heatmap(grid * np.nan, M) is None


def test_cost_plot_against_measured_rtf_needs_the_rtf():
    varied = cells(4).assign(nfe=[8.0, 8.0, 16.0, 60.0], device="cpu")
    assert rtf_figure(varied, M, REF[M], None, {"cpu": ""}) is None           # not measured
    timed = varied.assign(rtf=[0.1, 0.12, 0.2, 0.7])
    by_rtf = rtf_figure(timed, M, REF[M], None, {"cpu": ""})
    assert by_rtf.axes[0].get_xlabel().startswith("measured real-time factor")
