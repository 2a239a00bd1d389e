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
