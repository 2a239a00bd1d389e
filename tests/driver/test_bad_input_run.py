"""`python -m benchmark.run` refuses bad input before any work (issue 48): for each case a non-zero
exit, one line on stderr naming the file or key, no traceback, and nothing written or changed: no
results, reports or models folder made, no MLflow store, no queue, no meta.json touched."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.run import main

REPO = Path(__file__).resolve().parents[2]
SMOKE = (REPO / "studies" / "smoke.yaml").read_text()
# smoke's base without its synthetic-data keys, which data=folder and data=vbdmd do not have
NO_DATA = "".join(line + "\n" for line in SMOKE.splitlines() if not line.lstrip().startswith("- data."))
ROOT = os.geteuid() == 0       # root writes through a read-only mode bit: those cases only run as a user


def snapshot(root: Path) -> dict | None:
    """Every path under `root` with its kind, bytes and mtime (None: `root` does not exist)."""
    if not root.exists():
        return None
    if not root.is_dir():
        return {"": (False, root.read_bytes(), root.stat().st_mtime_ns)}
    return {str(p.relative_to(root)): (p.is_dir(), None if p.is_dir() else p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def study_file(tmp_path: Path, stem: str, text: str) -> str:
    path = tmp_path / "studies" / f"{stem}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return f"study={path}"


def folder_corpus(root: Path, splits=("train", "valid", "test")) -> Path:
    """DIR/<split>/{clean,noisy}/a.wav: the layout data=folder reads (the files are never opened here)."""
    for split in splits:
        for side in ("clean", "noisy"):
            (root / split / side).mkdir(parents=True)
            (root / split / side / "a.wav").write_bytes(b"RIFF")
    return root


# Each case: (id, function of (tmp_path, tiny) -> (argv, what the last line of stderr must contain)).
# Where --dry-run reaches the same check it is used, so a case that is not refused fails in seconds.
def _yaml_syntax(t, tiny):
    return [study_file(t, "broken", "name: broken\naxes: [unclosed\n"), "--dry-run"], "broken.yaml"


def _axes_a_list(t, tiny):
    return [study_file(t, "listy", "name: listy\ntitle: T\nclaim: C\naxes: [sde, sampler]\n"), "--dry-run"], "axes"


def _overrides_not_a_list(t, tiny):
    text = "name: flat\ntitle: T\nclaim: C\naxes:\n  sde:\n    cosine: sde=oucosine\n"
    return [study_file(t, "flat", text), "--dry-run"], "axes.sde.cosine"


def _not_a_mapping(t, tiny):
    return [study_file(t, "items", "- name\n- axes\n"), "--dry-run"], "items.yaml"


def _exclude_not_mappings(t, tiny):
    return [study_file(t, "excl", NO_DATA.replace("name: smoke", "name: excl") + "exclude: [drift]\n"),
            "--dry-run"], "exclude"


def _unknown_key(t, tiny):
    return [study_file(t, "typo", NO_DATA.replace("name: smoke", "name: typo").replace("base:", "bsae:")),
            "--dry-run"], "bsae"


def _name_of_a_built_in(t, tiny):
    # a copy of smoke, changed, under another file name but still called smoke: smoke's folder and queue
    return [study_file(t, "mine", SMOKE.replace("steps=2", "steps=3")), *tiny, "--dry-run"], "name"


def _built_in_name_other_content(t, tiny):
    return [study_file(t, "smoke", SMOKE.replace("steps=2", "steps=3")), *tiny, "--dry-run"], "smoke"


def _results_a_file(t, tiny):
    (t / "results").write_text("not a folder")
    return ["study=smoke", *tiny, "--dry-run"], "--results"


def _results_below_a_file(t, tiny):
    (t / "file").write_text("not a folder")
    return ["study=smoke", *tiny, f"--results={t / 'file' / 'results'}", "--dry-run"], "--results"


def _results_a_file_real_run(t, tiny):
    (t / "results").write_text("not a folder")
    return ["study=smoke", *tiny, "--jobs", "1"], "--results"


def _reports_a_file(t, tiny):
    (t / "reports").write_text("not a folder")
    return ["study=smoke", *tiny, "--dry-run"], "--reports"


def _models_a_file(t, tiny):
    (t / "models").write_text("not a folder")
    return ["study=smoke", *tiny, f"--models={t / 'models'}", "--dry-run"], "--models"


def _read_only_results(t, tiny):
    (t / "ro").mkdir()
    (t / "ro").chmod(0o555)
    return ["study=smoke", *tiny, f"--results={t / 'ro' / 'results'}", "--dry-run"], "not writable"


def _data_root_missing(t, tiny):
    return [study_file(t, "onfolder", NO_DATA.replace("name: smoke", "name: onfolder")), "data=folder",
            f"data.root={t / 'nowhere'}", "--dry-run"], "data.root"


def _data_root_missing_real_run(t, tiny):
    return [study_file(t, "onfolder", NO_DATA.replace("name: smoke", "name: onfolder")), "data=folder",
            f"data.root={t / 'nowhere'}", "--jobs", "1", "--max-retries", "0"], "data.root"


def _data_root_not_given(t, tiny):
    return [study_file(t, "onfolder", NO_DATA.replace("name: smoke", "name: onfolder")), "data=folder",
            "--dry-run"], "data.root"


def _data_root_a_file(t, tiny):
    (t / "corpus").write_text("x")
    return [study_file(t, "onfolder", NO_DATA.replace("name: smoke", "name: onfolder")), "data=folder",
            f"data.root={t / 'corpus'}", "--dry-run"], "corpus"


def _data_root_without_a_split(t, tiny):
    root = folder_corpus(t / "corpus", splits=("train", "test"))
    return [study_file(t, "onfolder", NO_DATA.replace("name: smoke", "name: onfolder")), "data=folder",
            f"data.root={root}", "--dry-run"], "valid"


def _data_root_unpaired(t, tiny):
    root = folder_corpus(t / "corpus")
    (root / "test" / "noisy" / "a.wav").rename(root / "test" / "noisy" / "b.wav")
    return [study_file(t, "onfolder", NO_DATA.replace("name: smoke", "name: onfolder")), "data=folder",
            f"data.root={root}", "--dry-run"], "a.wav"


def _vbdmd_root_empty(t, tiny):
    (t / "vb").mkdir()
    return [study_file(t, "onvb", NO_DATA.replace("name: smoke", "name: onvb")), "data=vbdmd",
            f"data.root={t / 'vb'}", "--dry-run"], "clean_trainset_28spk_wav"


def _device_tpu(t, tiny):
    return ["study=smoke", *tiny, "device=tpu", "--jobs", "1", "--dry-run"], "tpu"


def _device_cuda(t, tiny):
    return ["study=smoke", *tiny, "device=cuda", "--jobs", "1", "--dry-run"], "cuda"


def _device_cuda_auto_jobs(t, tiny):
    return ["study=smoke", *tiny, "device=cuda", "--dry-run"], "cuda"


def _meta_corrupt(t, tiny):
    (t / "results" / "smoke").mkdir(parents=True)
    (t / "results" / "smoke" / "meta.json").write_text('{"runs": [{"id": "earlier", "minu')
    return ["study=smoke", *tiny, "--dry-run"], "meta.json"


CASES = [_yaml_syntax, _axes_a_list, _overrides_not_a_list, _not_a_mapping, _exclude_not_mappings, _unknown_key,
         _name_of_a_built_in, _built_in_name_other_content, _results_a_file, _results_below_a_file,
         _results_a_file_real_run, _reports_a_file, _models_a_file,
         pytest.param(_read_only_results, marks=pytest.mark.skipif(ROOT, reason="root writes through mode bits")),
         _data_root_missing, _data_root_missing_real_run, _data_root_not_given, _data_root_a_file,
         _data_root_without_a_split, _data_root_unpaired, _vbdmd_root_empty, _device_tpu, _meta_corrupt,
         pytest.param(_device_cuda, marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here")),
         pytest.param(_device_cuda_auto_jobs,
                      marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here"))]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_bad_input_is_refused_in_one_line_before_any_work(case, tmp_path, tiny, capsys):
    argv, names = case(tmp_path, tiny)
    outputs = {"results": tmp_path / "results", "reports": tmp_path / "reports"}
    for flag, path in outputs.items():
        if not any(a.startswith(f"--{flag}") for a in argv):
            argv.append(f"--{flag}={path}")
    watched = [tmp_path / "results", tmp_path / "reports", tmp_path / "models", tmp_path / "ro"]
    before = [snapshot(p) for p in watched]
    try:
        rc = main(argv)
    finally:
        if (tmp_path / "ro").exists():
            (tmp_path / "ro").chmod(0o755)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc not in (0, None), err
    assert "Traceback" not in err and lines, err
    assert lines[-1].startswith("error: ") and names in lines[-1], err
    assert [snapshot(p) for p in watched] == before          # a fresh folder stays unmade; others untouched


def test_a_bad_study_file_prints_no_traceback_from_the_command_line(tmp_path):
    """The one case end to end in a fresh interpreter: what a user sees is one line, exit 2."""
    arg = study_file(tmp_path, "broken", "name: broken\naxes: [unclosed\n")
    proc = subprocess.run([sys.executable, "-m", "benchmark.run", arg, "--dry-run", f"--results={tmp_path / 'r'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "broken.yaml" in proc.stderr
    assert not (tmp_path / "r").exists()

