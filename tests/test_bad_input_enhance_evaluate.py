"""Issue 48 for `benchmark.enhance` and `benchmark.evaluate`: every bad input is refused before any
work, with one line naming the file or key, a non-zero exit, no traceback, and nothing written or
changed in the model, input or output folders."""
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf

from benchmark import enhance, evaluate, train
from benchmark.config import training_hash

SR = 16_000
ROOT = os.geteuid() == 0        # root writes through a read-only mode bit: such cases run only as a user


def snapshot(*roots: Path) -> dict:
    """Every path under `roots` with its kind and, for files, a hash of the contents and the mtime."""
    seen = {}
    for root in roots:
        seen[str(root)] = root.exists()
        for p in sorted(root.rglob("*")) if root.is_dir() else []:
            seen[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) if p.is_file() else "dir"
    return seen


def refused(main, argv, capsys) -> str:
    """The one error line of a refused command; any exception escaping main() is the traceback a
    user would see."""
    try:
        rc = main([str(a) for a in argv])
    except BaseException as e:          # noqa: BLE001 -- the point is that nothing escapes
        pytest.fail(f"traceback instead of one line: {type(e).__name__}: {e}")
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and [line for line in lines if line.startswith("error:")] == [lines[-1]], err
    return lines[-1]


def tone(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    return (0.05 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


# enhance ---------------------------------------------------------------------------------------

@pytest.fixture
def setup(tiny_model, tmp_path):
    """A private copy of the tiny model folder, an input folder with one file, and a free output."""
    src, cfg = tiny_model
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.yaml", "last.pt"):
        shutil.copy2(src / name, model / name)
    inp = tmp_path / "in"
    inp.mkdir()
    sf.write(inp / "a.wav", tone(), SR)
    return {"tmp": tmp_path, "model": model, "input": inp, "output": tmp_path / "out", "cfg": cfg}


def _colliding_stems(s):
    sf.write(s["input"] / "a.flac", tone(seed=1), SR)
    return {"expect": [str(s["input"] / "a.wav"), str(s["input"] / "a.flac")]}


def _output_is_the_input(s):
    s["output"] = s["input"]
    return {"expect": [str(s["input"]), "output"]}


def _output_inside_the_input(s):
    s["output"] = s["input"] / "enhanced"
    return {"expect": [str(s["input"] / "enhanced"), "output"]}


def _output_beside_a_single_input_file(s):
    s["input_arg"] = s["input"] / "a.wav"
    s["output"] = s["input"]
    return {"expect": [str(s["input"] / "a.wav"), "overwrite"]}


def _output_is_a_file(s):
    s["output"].write_text("not a folder")
    return {"expect": [str(s["output"]), "is a file"]}


def _output_below_a_file(s):
    (s["tmp"] / "file").write_text("not a folder")
    s["output"] = s["tmp"] / "file" / "out"
    return {"expect": [str(s["tmp"] / "file"), "is a file"]}


def _output_read_only(s):
    s["output"].mkdir()
    s["output"].chmod(0o555)
    return {"expect": [str(s["output"]), "not writable"]}


def _edit_config(s, **changes):
    path = s["model"] / "config.yaml"
    cfg = OmegaConf.load(path)
    for key, value in changes.items():
        OmegaConf.update(cfg, key, value)
    OmegaConf.save(cfg, path)


def _net_edited_after_training(s):
    _edit_config(s, **{"net.base_channels": 16})
    return {"expect": [str(s["model"] / "last.pt"), "net.emb.linear_1.weight is (32, 16) there, (64, 32)"]}


def _frontend_edited_after_training(s):
    # the driver records the training hash in done.json; n_fft changes no weight's shape (the net is
    # convolutional), so only that record can tell
    (s["model"] / "done.json").write_text(f'{{"training_hash": "{training_hash(s["cfg"])}"}}')
    _edit_config(s, **{"frontend.n_fft": 256, "frontend.hop": 128})
    return {"expect": [str(s["model"] / "config.yaml"), "edited after training"]}


def _training_setting_overridden(s):
    s["extra"] = ["frontend.n_fft=256", "frontend.hop=128"]
    return {"expect": ["frontend.n_fft=256", str(s["model"])]}


def _invalid_yaml(s):
    (s["model"] / "config.yaml").write_text("net: [unclosed\n  : :\n")
    return {"expect": [str(s["model"] / "config.yaml")]}


def _empty_config(s):
    (s["model"] / "config.yaml").write_text("")
    return {"expect": [str(s["model"] / "config.yaml")]}


def _partial_config(s):
    (s["model"] / "config.yaml").write_text("seed: 0\nnet:\n  name: tiny\n")
    return {"expect": [str(s["model"] / "config.yaml")]}


def _bare_tensor(s):
    torch.save(torch.zeros(3), s["model"] / "last.pt")
    return {"expect": [str(s["model"] / "last.pt")]}


def _foreign_state_dict(s):
    torch.save({"state_dict": {"encoder.weight": torch.zeros(4, 4)}}, s["model"] / "model.pt")
    s["model_arg"] = s["model"] / "model.pt"
    return {"expect": [str(s["model"] / "model.pt"), "net.emb.freqs", "encoder.weight"]}


def _ema_of_another_net(s):
    # one tensor short: the old loader zipped the lists and left the last tensor untrained, silently
    state = torch.load(s["model"] / "last.pt", weights_only=True)
    state["ema"]["shadow"] = state["ema"]["shadow"][:-1]
    torch.save(state, s["model"] / "last.pt")
    return {"expect": [str(s["model"] / "last.pt")]}


def _unknown_mlflow_run(s):
    s["model_arg"] = "0123456789abcdef0123456789abcdef"
    return {"expect": ["0123456789abcdef0123456789abcdef"]}


ENHANCE_CASES = {f.__name__.lstrip("_"): f for f in [
    _colliding_stems, _output_is_the_input, _output_inside_the_input, _output_beside_a_single_input_file,
    _output_is_a_file, _output_below_a_file, _output_read_only, _net_edited_after_training,
    _frontend_edited_after_training, _training_setting_overridden, _invalid_yaml, _empty_config, _partial_config,
    _bare_tensor, _foreign_state_dict, _ema_of_another_net, _unknown_mlflow_run]}


@pytest.mark.parametrize("case", list(ENHANCE_CASES))
def test_enhance_refuses_bad_input_before_any_work(setup, case, capsys, monkeypatch):
    if case == "output_read_only" and ROOT:
        pytest.skip("root writes through a read-only mode bit")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(setup["tmp"])          # the default MLflow store, results/mlflow.db, is relative
    want = ENHANCE_CASES[case](setup)
    before = snapshot(setup["tmp"])
    argv = [f"model={setup.get('model_arg', setup['model'])}", f"input={setup.get('input_arg', setup['input'])}",
            f"output={setup['output']}", "sampler.steps=1", "sampler.churn=0", *setup.get("extra", [])]
    line = refused(enhance.main, argv, capsys)
    for name in want["expect"]:
        assert name in line
    assert snapshot(setup["tmp"]) == before


def test_a_model_folder_with_its_training_record_still_loads(setup, capsys):
    """The done.json check does not refuse the folder it was written for (nor a sampler override)."""
    (setup["model"] / "done.json").write_text(f'{{"training_hash": "{training_hash(setup["cfg"])}"}}')
    assert enhance.main([f"model={setup['model']}", f"input={setup['input']}", f"output={setup['output']}",
                         "sampler.steps=1", "sampler.churn=0"]) == 0
    assert sorted(p.name for p in setup["output"].iterdir()) == ["a.wav"]


def test_a_model_trained_by_the_train_command_refuses_a_config_edited_since(tiny, tmp_path, capsys):
    """`python -m benchmark.train` keeps the training hash in done.json, as the driver does, so an
    edit that changes no weight's shape (frontend.n_fft) is refused for its folders too."""
    model = tmp_path / "m"
    assert train.main([f"out={model}", *tiny, "trainer.max_steps=2", "trainer.val_every=0"]) == 0
    capsys.readouterr()
    cfg = OmegaConf.load(model / "config.yaml")
    assert json.loads((model / "done.json").read_text())["training_hash"] == training_hash(cfg)
    inp = tmp_path / "in"
    inp.mkdir()
    sf.write(inp / "a.wav", tone(), SR)
    OmegaConf.update(cfg, "frontend.n_fft", 256)
    OmegaConf.update(cfg, "frontend.hop", 128)
    OmegaConf.save(cfg, model / "config.yaml")
    before = snapshot(tmp_path)
    line = refused(enhance.main, [f"model={model}", f"input={inp}", f"output={tmp_path / 'out'}",
                                  "sampler.steps=1", "sampler.churn=0"], capsys)
    assert str(model / "config.yaml") in line and "edited after training" in line
    assert snapshot(tmp_path) == before


# evaluate --------------------------------------------------------------------------------------

@pytest.fixture
def folders(tmp_path):
    for sub in ("clean", "enhanced"):
        (tmp_path / sub).mkdir()
    for i, name in enumerate("ab"):
        x = tone(seed=i)
        sf.write(tmp_path / "clean" / f"{name}.wav", x, SR)
        sf.write(tmp_path / "enhanced" / f"{name}.wav", 0.9 * x, SR)
    return tmp_path


def _eval_output_is_a_file(f):
    (f / "scores").write_text("not a folder")
    return f / "scores", [str(f / "scores"), "is a file"]


def _eval_output_below_a_file(f):
    (f / "file").write_text("not a folder")
    return f / "file" / "scores", [str(f / "file"), "is a file"]


def _eval_table_is_a_folder(f):
    (f / "scores" / "per_utterance.csv").mkdir(parents=True)
    return f / "scores", [str(f / "scores" / "per_utterance.csv"), "is a folder"]


def _eval_default_output_is_a_file(f):
    (f / "enhanced_scores").write_text("not a folder")
    return None, [str(f / "enhanced_scores"), "is a file"]


def _eval_output_read_only(f):
    (f / "scores").mkdir()
    (f / "scores").chmod(0o555)
    return f / "scores", [str(f / "scores"), "not writable"]


def _eval_output_checked_before_any_audio_is_read(f):
    # a length mismatch would be found while reading the audio: the output is named first
    sf.write(f / "enhanced" / "b.wav", tone(0.25), SR)
    (f / "scores").write_text("not a folder")
    return f / "scores", [str(f / "scores"), "is a file"]


EVALUATE_CASES = {f.__name__.lstrip("_"): f for f in [
    _eval_output_is_a_file, _eval_output_below_a_file, _eval_table_is_a_folder, _eval_default_output_is_a_file,
    _eval_output_read_only, _eval_output_checked_before_any_audio_is_read]}


@pytest.mark.parametrize("case", list(EVALUATE_CASES))
def test_evaluate_refuses_bad_input_before_any_work(folders, case, capsys):
    if case == "eval_output_read_only" and ROOT:
        pytest.skip("root writes through a read-only mode bit")
    output, expect = EVALUATE_CASES[case](folders)
    before = snapshot(folders)
    argv = [f"clean={folders / 'clean'}", f"enhanced={folders / 'enhanced'}", "metrics=[si_sdr]", "jobs=1"]
    line = refused(evaluate.main, argv + ([f"output={output}"] if output else []), capsys)
    for name in expect:
        assert name in line
    assert snapshot(folders) == before
