"""sde_ablation's report explains its drift finding from drift_and_prior's sampling-only cells."""
import shutil

import pytest

from benchmark.report import diagnosis
from benchmark.report.build import build_report
from benchmark.report.load import load_study

from .test_scorecard import STUDIES, drift_effect, fake_study


@pytest.fixture
def root(tmp_path):
    shutil.copytree(STUDIES, tmp_path / "studies")
    return tmp_path


def walk_effect(x_space_loss, sigma_space_loss):
    """with − without: `x_space_loss` under every x-space sampler, `sigma_space_loss` in σ-space."""
    def effect(axes, kind):
        if kind == "predictive" or axes["drift"] != "with":
            return 0.2 if kind == "predictive" else 0.0
        return sigma_space_loss if axes["sampler"] == "σ-space" else x_space_loss
    return effect


def _claim(root):
    study = load_study(root / "studies" / "sde_ablation.yaml")
    found = diagnosis.load(study, root / "results", root / "studies")
    assert found is not None
    return diagnosis.drift_diagnosis(found[1], "test", "pesq_wb", found[0].name)


def test_a_gap_only_in_x_space_is_the_walks(root):
    assert diagnosis.load(load_study(root / "studies" / "sde_ablation.yaml"), root / "results",
                          root / "studies") is None                       # nothing run yet
    fake_study(root, "drift_and_prior", walk_effect(-0.3, 0.0))
    claim = _claim(root)
    assert claim.verdict == "the sampler's walk"
    assert "under 5 of 5 x-space samplers" in claim.text and "not in σ-space" in claim.text
    assert "OUVE (SGMSE+)" in claim.text and "the training adds no loss" in claim.text


def test_a_gap_in_sigma_space_too_is_not_the_walk_alone(root):
    fake_study(root, "drift_and_prior", walk_effect(-0.3, -0.3))
    assert _claim(root).verdict == "not the walk alone"


def test_no_gap_means_nothing_to_explain(root):
    fake_study(root, "drift_and_prior", walk_effect(0.0, 0.0))
    assert _claim(root).verdict == "no loss to explain"


def test_the_sde_ablation_page_carries_the_diagnosis(root):
    fake_study(root, "sde_ablation", drift_effect(0.2))
    page = build_report("sde_ablation", root / "results", root / "reports", root / "studies").read_text()
    assert "why the drift hurts" not in page
    fake_study(root, "drift_and_prior", walk_effect(-0.3, 0.0))
    page = build_report("sde_ablation", root / "results", root / "reports", root / "studies").read_text()
    assert "why the drift hurts" in page and "the x-space walk" in page


def test_the_kept_pairs_are_read_unless_the_cells_are_newer(root):
    import os

    from benchmark.report import paired_stats
    fake_study(root, "drift_and_prior", walk_effect(-0.3, 0.0))
    folder = root / "results" / "drift_and_prior"
    study = load_study(root / "studies" / "sde_ablation.yaml")
    computed = diagnosis.load(study, root / "results", root / "studies")[1]
    kept = computed.assign(mean=computed["mean"] + 1.0)      # what a report would have kept, marked
    kept.to_csv(folder / "pairs.csv", index=False)
    assert paired_stats.kept(folder) is not None
    got = diagnosis.load(study, root / "results", root / "studies")[1]
    assert got["mean"].tolist() == pytest.approx(kept["mean"].tolist())
    later = (folder / "pairs.csv").stat().st_mtime + 10        # a run with --no-report added cells
    os.utime(folder / "cells.csv", (later, later))
    got = diagnosis.load(study, root / "results", root / "studies")[1]
    assert got["mean"].tolist() == pytest.approx(computed["mean"].tolist())
