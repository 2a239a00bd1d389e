"""Shipped reference models (issue 47): a trained model exported as safetensors, enhanced with by
`model=reference:<name>` exactly as its model folder enhances, and every damaged, swapped or
oversized file refused in one line naming it."""
import json
import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf
from safetensors.torch import load, save

from benchmark import enhance, shipped, store
from benchmark.audio.io import write_audio
from benchmark.config import compose, training_hash
from benchmark.fit import CheckpointError


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    """(a finished copy of the tiny model folder, a weights folder with it shipped as `tiny`, its entry)."""
    src, cfg = tiny_model
    folder = tmp_path_factory.mktemp("finished")
    for name in ("config.yaml", "last.pt"):
        shutil.copy2(src / name, folder / name)
    store.mark_done(folder, {"steps": 6, "minutes": 0.1, "training_hash": training_hash(cfg)})
    weights = tmp_path_factory.mktemp("weights")
    entry = shipped.export(folder, "tiny", weights, study="unit", commit="abc123", host="test host")
    return folder, weights, entry


@pytest.fixture
def weights(exported, tmp_path, monkeypatch):
    """A private copy of the exported weights folder, made the package's for the test."""
    copy = tmp_path / "weights"
    shutil.copytree(exported[1], copy)
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", copy)
    return copy


@pytest.fixture
def noisy(tmp_path):
    write_audio(tmp_path / "in" / "a.wav", 0.05 * np.random.default_rng(0).standard_normal(12000).astype(np.float32))
    return tmp_path / "in"


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_the_export_is_safetensors_with_a_header_and_an_index_entry(exported):
    folder, weights, entry = exported
    data = (weights / "tiny.safetensors").read_bytes()
    meta = store.safetensors_header(data, "tiny")
    assert meta["training_hash"] == entry.training_hash == store.finished(folder)["training_hash"]
    assert meta["steps"] == "6" and meta["dtype"] == "fp32" == entry.dtype
    index = json.loads((weights / "index.json").read_text())["models"]["tiny"]
    assert index["sha256"] == store.sha256_of(data) and index["bytes"] == len(data)
    assert (index["study"], index["commit"], index["host"], index["steps"]) == ("unit", "abc123", "test host", 6)
    # data's `auto` choices written out: the shipped config hashes alike on a machine with other recordings
    config = OmegaConf.create(index["config"])
    assert "auto" not in config.data.values()
    assert training_hash(compose(base=config)) == entry.training_hash


def test_reference_enhances_bit_identically_to_the_model_folder(exported, weights, noisy, tmp_path, capsys):
    folder = exported[0]
    args = [f"input={noisy}", "sampler.steps=2", "sampler.churn=0"]
    assert enhance.main([f"model={folder}", f"output={tmp_path / 'a'}", *args]) == 0
    assert enhance.main(["model=reference:tiny", f"output={tmp_path / 'b'}", *args]) == 0
    a, b = sf.read(tmp_path / "a" / "a.wav")[0], sf.read(tmp_path / "b" / "a.wav")[0]
    assert np.array_equal(a, b) and np.abs(a).max() > 0
    assert "enhanced 1 file(s)" in capsys.readouterr().out


def test_list_models_shows_the_shipped_ones(weights, capsys):
    assert shipped.names() == ["tiny"]
    assert enhance.main(["--list-models"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "study unit" in out and "6 steps" in out and "MB" in out
    assert shipped.main(["list"]) == 0 and "tiny" in capsys.readouterr().out
    assert "--list-models" in enhance.__doc__ and "reference:<name>" in enhance.__doc__


def test_an_unknown_name_is_refused_listing_the_shipped_ones(weights, noisy, tmp_path, capsys):
    assert enhance.main(["model=reference:nope", f"input={noisy}", f"output={tmp_path / 'o'}"]) == 2
    assert "reference:nope: no such shipped model (shipped: tiny)" in one_error(capsys)
    (weights / "index.json").write_text("{}")                 # an empty index is valid: nothing shipped
    (weights / "tiny.safetensors").unlink()
    assert enhance.main(["model=reference:tiny", f"input={noisy}", f"output={tmp_path / 'o'}"]) == 2
    assert "none are shipped yet" in one_error(capsys)
    assert enhance.main(["--list-models"]) == 0 and "no reference models" in capsys.readouterr().out


def _flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01                                           # in the tensor data: the header still parses
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize("damage, problem", [(_flip_one_byte, "sha256"), (_truncate, "truncated")])
def test_a_damaged_file_is_refused_in_one_line_naming_it(weights, noisy, tmp_path, capsys, damage, problem):
    damage(weights / "tiny.safetensors")
    assert enhance.main(["model=reference:tiny", f"input={noisy}", f"output={tmp_path / 'o'}"]) == 2
    line = one_error(capsys)
    assert str(weights / "tiny.safetensors") in line and problem in line
    assert not (tmp_path / "o").exists()
    with pytest.raises(shipped.ShippedError, match=problem):
        shipped.materialize("tiny", tmp_path / "root")
    assert shipped.check() and shipped.main(["check"]) == 1


def test_a_file_whose_header_names_another_model_is_refused(weights, tmp_path, capsys):
    path = weights / "tiny.safetensors"
    swapped = save(load(path.read_bytes()), {**store.safetensors_header(path.read_bytes(), path),
                                             "training_hash": "0badf00d"})
    path.write_bytes(swapped)                                  # the index updated to match the bytes
    index = json.loads((weights / "index.json").read_text())
    index["models"]["tiny"].update(sha256=store.sha256_of(swapped), bytes=len(swapped))
    (weights / "index.json").write_text(json.dumps(index))
    with pytest.raises(shipped.ShippedError, match=r"tiny.safetensors: its header says training_hash 0badf00d"):
        shipped.materialize("tiny", tmp_path / "root")


def test_no_pickle_in_the_shipped_load_path(weights, noisy, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pickle used to load shipped weights")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = shipped.load_reference("tiny")
    assert loaded.info["step"] == 6 and not loaded.model.training
    assert enhance.main(["model=reference:tiny", f"input={noisy}", f"output={tmp_path / 'o'}", "sampler.steps=1"]) == 0


def test_materialize_makes_a_model_folder_the_store_loads(exported, weights, tmp_path):
    folder, _, entry = exported
    made = shipped.materialize_all(tmp_path / "root")
    assert made == {entry.training_hash: tmp_path / "root" / entry.training_hash}
    out = made[entry.training_hash]
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "done.json", "weights.safetensors"]
    assert store.model_done(out) and store.finished(out)["shipped"] == "tiny"
    cfg = store.read_config(out)
    assert training_hash(cfg) == entry.training_hash
    ref, got = store.load_trained(cfg, folder), store.load_trained(cfg, out)
    for a, b in zip(ref.model.state_dict().values(), got.model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="last.pt's EMA weights only"):
        store.load_trained(cfg, out, "best")
    assert shipped.materialize("tiny", tmp_path / "root") == out            # again: found, unchanged
    _flip_one_byte(out / "weights.safetensors")                            # altered after it was made
    with pytest.raises(CheckpointError, match=r"weights.safetensors: sha256 .* its done.json recorded"):
        store.load_trained(cfg, out)
    assert shipped.materialize("tiny", tmp_path / "root") == out            # made anew from the package
    store.load_trained(cfg, out)


def test_a_trained_folder_of_the_same_model_is_kept(exported, weights, tmp_path):
    folder, _, entry = exported
    shutil.copytree(folder, tmp_path / "root" / entry.training_hash)
    out = shipped.materialize("tiny", tmp_path / "root")
    assert not (out / "weights.safetensors").exists() and (out / "last.pt").exists()


def test_bf16_halves_the_file_and_loads(exported, tmp_path):
    entry = shipped.export(exported[0], "half", tmp_path / "w", dtype="bf16")
    assert entry.dtype == "bf16" and entry.bytes < 0.6 * exported[2].bytes
    out = shipped.materialize("half", tmp_path / "root", tmp_path / "w")
    got = store.load_trained(store.read_config(out), out).model.state_dict()
    ref = store.load_trained(store.read_config(out), exported[0]).model.state_dict()
    for name, tensor in ref.items():
        assert torch.equal(got[name], tensor.to(torch.bfloat16).to(tensor.dtype)), name


def test_export_refusals(exported, tmp_path):
    folder, weights, entry = exported
    with pytest.raises(shipped.ShippedError, match=r"over the [\d.]+ MB cap: [\d.]+ MB fits; in bf16 it is "
                                                   r"[\d.]+ MB \(fits: --dtype bf16\)"):
        shipped.export(folder, "tiny", tmp_path / "w", cap=int(0.7 * entry.bytes))
    assert not (tmp_path / "w" / "tiny.safetensors").exists()
    shipped.export(folder, "tiny", tmp_path / "w")
    index = json.loads((tmp_path / "w" / "index.json").read_text())
    index["models"]["tiny"]["training_hash"] = "0badf00d"
    (tmp_path / "w" / "index.json").write_text(json.dumps(index))
    with pytest.raises(shipped.ShippedError, match="'tiny' is shipped already for model 0badf00d"):
        shipped.export(folder, "tiny", tmp_path / "w")
    with pytest.raises(shipped.ShippedError, match="not a path"):
        shipped.export(folder, "../evil", tmp_path / "w")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(folder, unfinished)
    (unfinished / "done.json").unlink()
    with pytest.raises(shipped.ShippedError, match="not a finished model folder"):
        shipped.export(unfinished, "other", tmp_path / "w")


def test_the_package_weights_are_consistent_with_their_index():
    """A committed export cannot rot: every listed file verifies, and no file is left unlisted."""
    assert (shipped.WEIGHTS_DIR / "index.json").is_file()
    assert shipped.check() == []
    for entry in shipped.list_models():
        assert training_hash(compose(base=OmegaConf.create(entry.config))) == entry.training_hash


def test_the_export_command(exported, tmp_path, capsys):
    dest = tmp_path / "w"
    assert shipped.main(["export", str(exported[0]), "cli", "--study", "smoke", "--dest", str(dest)]) == 0
    assert "shipped cli  study smoke, 6 steps" in capsys.readouterr().out
    entry = shipped.read_index(dest)["cli"]
    assert entry.commit and entry.host and entry.training_hash == exported[2].training_hash
    assert shipped.main(["check", "--dest", str(dest)]) == 0
    assert shipped.main(["export", str(exported[0]), "again", "--dest", str(dest)]) == 2
    assert "is shipped already as 'cli'" in one_error(capsys)
