"""driver/grid.py: a study file is read whole and refused in one line naming the file and the key
where it is not the shape expand() reads (issue 48)."""
from pathlib import Path

import pytest

from benchmark.config import ConfigError
from benchmark.driver.grid import STUDIES_DIR, expand, load_study

REPO = Path(__file__).resolve().parents[2]


def test_every_built_in_study_loads_and_expands():
    """A guard on the checks: they refuse nothing that ships."""
    for path in sorted((REPO / STUDIES_DIR).glob("*.yaml")):
        spec = load_study(str(path))
        assert spec.name == path.stem and expand(spec)


@pytest.mark.parametrize("text, names", [
    ("name: s\ntitle: T\nclaim: C\naxes:\n  steps:\n    16: [sampler.steps=16]\n", "label 16"),
    ("name: s\ntitle: T\nclaim: C\naxes: {}\n", "`axes`"),
    ("name: s\ntitle: T\nclaim: C\naxes: {sde: {cosine: [sde=oucosine]}}\nextra: [{axes: {sde: x}}]\n", "extra"),
    ("name: s\ntitle: T\nclaim: C\nbaselines: maybe\naxes: {sde: {cosine: [sde=oucosine]}}\n", "baselines"),
    ("name: s\ntitle: T\nclaim: C\naxes:\n  sde:\n    cosine: [sde=oucosine\n", "line 7"),
])
def test_a_study_file_of_the_wrong_shape_is_refused_naming_the_file_and_key(tmp_path, text, names):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_study(str(path))
    message = str(e.value)
    assert message.startswith(str(path)) and names in message and "\n" not in message


TWO_AXES = ("name: s\ntitle: T\nclaim: C\naxes:\n  sde: {cosine: [sde=oucosine], ouve: [sde=ouve]}\n"
            "  drift: {with: [sde.stiffness=1.5], without: [sde.stiffness=0.0]}\n")


ARM = "{sde: cosine, drift: with}"


@pytest.mark.parametrize("contrast, names", [
    (f"{{control: {ARM}}}", "names two cells"),
    (f"{{control: {{sde: cosine}}, treatment: {ARM}}}", "`contrast.control` must give a label for every axis"),
    (f"{{control: {ARM}, treatment: {{sde: vp, drift: with}}}}", "`contrast.treatment.sde`: 'vp'"),
    (f"{{control: {ARM}, treatment: {ARM}}}", "the same cell"),
    ("[cosine, ouve]", "`contrast`"),
])
def test_a_contrast_that_names_no_cell_of_the_study_is_refused_by_both_readers(tmp_path, contrast, names):
    from benchmark.report.load import ReportError
    from benchmark.report.load import load_study as report_load_study
    path = tmp_path / "s.yaml"
    path.write_text(f"{TWO_AXES}contrast: {contrast}\n")
    for read, error in ((lambda p: load_study(str(p)), ConfigError), (report_load_study, ReportError)):
        with pytest.raises(error) as e:
            read(path)
        assert str(e.value).startswith(str(path)) and names in str(e.value), read


def test_a_contrast_may_name_an_extra_cell_by_its_own_labels(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(TWO_AXES + "extra: [{axes: {sde: BBED, drift: built in}, overrides: [sde=bbed]}]\n"
                    "contrast: {control: {sde: BBED, drift: built in}, treatment: {sde: cosine, drift: without}}\n")
    assert load_study(str(path)).contrast.control.drift == "built in"
