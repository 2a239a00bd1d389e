import base64
import io

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.report.plots import cell_plot, heatmap, nfe_plot, pareto_front

M = "pesq_wb"


def cells(n: int, nfe=16.0) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    return pd.DataFrame({"cell": [f"{i:08x}" for i in range(n)], "kind": "diffusion",
                         "display": [f"cell {i}" for i in range(n)],
                         "sde": ["ouve", "ouvp"] * (n // 2) + ["ouve"] * (n % 2),
                         "nfe": nfe, M: rng.uniform(1.2, 1.8, n), f"{M}_ci": 0.05})


def image(png: str) -> Image.Image:
    data = base64.b64decode(png)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data))


def test_cell_plot_is_a_png_that_grows_with_the_cells():
    small = image(cell_plot(cells(2), M, (1.3, 0.04)))
    large = image(cell_plot(cells(12), M, (1.3, 0.04)))
    assert large.height > small.height
    assert cell_plot(cells(3).assign(**{M: np.nan}), M, (1.3, 0.04)) is None


def test_nfe_plot_only_when_nfe_varies():
    assert nfe_plot(cells(4), M, (1.3, 0.04), "sde") is None
    varied = cells(4).assign(nfe=[8.0, 8.0, 16.0, 60.0])
    predictive = pd.DataFrame({"cell": ["p"], "kind": ["predictive"], "display": ["pred"],
                               "sde": [""], "nfe": [1.0], M: [1.5], f"{M}_ci": [0.04]})
    assert image(nfe_plot(pd.concat([varied, predictive]), M, (1.3, float("nan")), "sde")).width > 0


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
    varied = cells(4).assign(nfe=[8.0, 8.0, 16.0, 60.0])
    assert nfe_plot(varied, M, (1.3, 0.04), "sde", x="rtf") is None           # not measured
    timed = varied.assign(rtf=[0.1, 0.12, 0.2, 0.7])
    by_rtf = image(nfe_plot(timed, M, (1.3, 0.04), "sde", x="rtf"))
    by_nfe = image(nfe_plot(timed, M, (1.3, 0.04), "sde"))
    assert by_rtf.width > 0 and by_rtf.tobytes() != by_nfe.tobytes()
