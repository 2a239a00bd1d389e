"""benchmark/preflight.py: the checks every front door makes before any work."""
import os

import pytest

from benchmark.preflight import PreflightError, apart, readable_dir, readable_file, writable_dir, writable_file

ROOT = os.geteuid() == 0      # root writes through a read-only mode bit: those cases are asserted as such


def test_a_folder_that_is_a_file_is_refused_naming_it(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(PreflightError, match=r"results .*/f is a file, not a folder"):
        writable_dir(tmp_path / "f", "results")
    with pytest.raises(PreflightError, match=r"is a file, not a folder"):
        writable_dir(tmp_path / "f" / "below", "results")
    assert writable_dir(tmp_path / "new" / "deeper", "results") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()                    # nothing is created


def test_a_read_only_folder_is_refused_where_the_mode_holds(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if ROOT:
            assert writable_dir(ro / "out", "output") == ro / "out"
        else:
            with pytest.raises(PreflightError, match="is not writable"):
                writable_dir(ro / "out", "output")
    finally:
        ro.chmod(0o755)


def test_files_and_folders_to_read(tmp_path):
    with pytest.raises(PreflightError, match="model .*missing does not exist"):
        readable_file(tmp_path / "missing", "model")
    with pytest.raises(PreflightError, match="is not a file"):
        readable_file(tmp_path, "model")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(PreflightError, match="is not a folder"):
        readable_dir(tmp_path / "a.txt", "data.root")
    with pytest.raises(PreflightError, match="is a folder, not a file"):
        writable_file(tmp_path, "report")
    assert readable_file(tmp_path / "a.txt", "x") and readable_dir(tmp_path, "x")


def test_an_output_inside_the_inputs_is_refused(tmp_path):
    with pytest.raises(PreflightError, match="inside the input folder"):
        apart(tmp_path, tmp_path, "output")
    with pytest.raises(PreflightError, match="inside the input folder"):
        apart(tmp_path / "enhanced", tmp_path, "output")
    apart(tmp_path.parent / "elsewhere", tmp_path, "output")
