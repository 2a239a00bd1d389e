import pytest
import yaml

from benchmark.report.load import DEFAULTS_FILE, ReportError, data_name, load_cells, load_meta, load_study

from .conftest import STUDY


def test_study_keeps_axis_order_and_reads_numeric_labels_as_text(tmp_path):
    path = tmp_path / "steps.yaml"
    path.write_text("name: steps\ntitle: T\nclaim: C\naxes:\n  steps:\n    16: [a]\n    8: [b]\n"
                    "    1.5: [c]\n  sde: {ouvp: [x], ouve: [y]}\n")
    study = load_study(path)
    assert study.axes == {"steps": ["16", "8", "1.5"], "sde": ["ouvp", "ouve"]}
    assert study.primary_metric == "pesq_wb"
    assert study.question is None


def test_numeric_axis_labels_stay_text_in_the_table(dirs):
    table = dirs.table()
    table["sampler"] = table["sampler"].replace({"heun N=8": "08"})
    dirs.save(table)
    cells = load_cells(dirs.cells, load_study(dirs.studies / f"{STUDY}.yaml"))
    assert "08" in set(cells["sampler"])          # not the number 8
    assert set(cells.loc[cells["kind"] == "input", "sde"]) == {""}
    assert cells["mean"].dtype == float


def test_missing_study_file_is_named(tmp_path):
    with pytest.raises(ReportError, match="nope.yaml: study file not found"):
        load_study(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, problem", [
    ("name: a\ntitle: b\nclaim: c\n", "missing key 'axes'"),
    ("name: a\ntitle: b\nclaim: c\naxes: {sde: [x, y]}\n", "axis 'sde' must map"),
    ("- just\n- a list\n", "must be a mapping"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_bad_study_file_names_file_and_problem(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ReportError) as err:
        load_study(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_missing_axis_column_is_named(dirs):
    dirs.save(dirs.table().drop(columns=["sampler"]))
    with pytest.raises(ReportError, match=r"cells.csv: missing column\(s\) \['sampler'\]"):
        load_cells(dirs.cells, load_study(dirs.studies / f"{STUDY}.yaml"))


def test_non_numeric_mean_names_line_and_column(dirs):
    table = dirs.table()
    table.loc[5, "mean"] = "oops"
    dirs.save(table)
    with pytest.raises(ReportError, match=r"cells.csv: line 7: column 'mean' is not a number"):
        load_cells(dirs.cells, load_study(dirs.studies / f"{STUDY}.yaml"))


def test_unknown_kind_is_rejected(dirs):
    table = dirs.table()
    table.loc[0, "kind"] = "oracle"
    dirs.save(table)
    with pytest.raises(ReportError, match="line 2: kind 'oracle' is not one of"):
        load_cells(dirs.cells, load_study(dirs.studies / f"{STUDY}.yaml"))


def test_missing_table_and_empty_file(dirs):
    study = load_study(dirs.studies / f"{STUDY}.yaml")
    with pytest.raises(ReportError, match="no results yet"):
        load_cells(dirs.results / "other" / "cells.csv", study)
    dirs.cells.write_text("")
    with pytest.raises(ReportError, match="empty file"):
        load_cells(dirs.cells, study)


def test_meta_is_optional_but_must_be_an_object(tmp_path):
    assert load_meta(tmp_path / "absent.json") == {}
    (tmp_path / "m.json").write_text("[1, 2]")
    with pytest.raises(ReportError, match="m.json: expected a JSON object"):
        load_meta(tmp_path / "m.json")
    (tmp_path / "m.json").write_text("{broken")
    with pytest.raises(ReportError, match="m.json: not valid JSON"):
        load_meta(tmp_path / "m.json")


def test_data_name_prefers_meta_then_study_then_default(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "title": "t", "claim": "c", "axes": {
        "sde": {"ouve": ["data=vbdmd", "sde=ouve"], "ouvp": ["sde=ouvp"]}}}))
    study = load_study(path)
    assert data_name(study, {}) == "vbdmd"
    assert data_name(study, {"data": "folder"}) == "folder"
    path.write_text(yaml.safe_dump({"name": "s", "title": "t", "claim": "c",
                                    "axes": {"sde": {"ouve": ["sde=ouve"]}}}))
    plain = load_study(path)
    assert data_name(plain, {"command": "python -m benchmark.run study=s data=vbdmd"}) == "vbdmd"
    assert data_name(plain, {}) == yaml.safe_load(DEFAULTS_FILE.read_text())["data"]
    assert data_name(plain, {"data": {"name": "synthetic"}}) == "synthetic"


def test_a_cells_scores_are_read_once_and_again_when_the_file_is_rewritten(tmp_path):
    """The per-utterance reader every section shares: names and tags as text ('' untagged), scores
    as numbers, one read per file however often it is asked, and a fresh read once it changes."""
    import os

    from benchmark.report.load import scores

    path = tmp_path / "per_utterance.csv"
    path.write_text("split,name,metric,input,output,delta,floored,cond_snr,cond_noise,cond_speaker\n"
                    "test,0007,pesq_wb,1.5,2.0,0.5,False,≥ 15 dB,,en\n"
                    "test,0008,pesq_wb,1.25,,,False,< 0 dB,babble,en\n")
    first = scores(path)
    assert list(first["name"]) == ["0007", "0008"]                  # not the numbers 7 and 8
    assert list(first["cond_noise"]) == ["", "babble"]
    assert first["output"].iloc[0] == 2.0 and first["output"].isna().iloc[1]
    assert scores(path) is first                                       # read once
    stat = path.stat()
    path.write_text(path.read_text().replace("2.0,0.5", "2.5,1.0"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert scores(path)["output"].iloc[0] == 2.5
