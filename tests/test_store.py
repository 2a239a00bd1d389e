"""Checkpoints load as tensors and plain data only: a crafted file cannot run code, and a damaged
one gives one line naming the file."""
import pathlib

import pytest
import torch
from omegaconf import OmegaConf

from benchmark import enhance
from benchmark.audio.io import write_audio
from benchmark.config import build_model, compose
from benchmark.fit import CheckpointError, load_checkpoint
from benchmark.store import load_for_inference


class _Payload:
    """What an attacker pickles: unpickling it calls Path.touch(marker)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture(scope="module")
def model_dir(tiny_model):
    return tiny_model[0]


def test_every_checkpoint_the_trainer_writes_loads_with_weights_only(model_dir):
    state = torch.load(model_dir / "last.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 6 and {"model", "optimizer", "ema", "generator", "torch_rng"} <= set(state)
    assert load_for_inference(str(model_dir)).info["step"] == 6


def test_a_crafted_checkpoint_is_refused_without_running_its_code(model_dir, tmp_path, capsys):
    marker = tmp_path / "owned"
    bad = tmp_path / "evil"
    bad.mkdir()
    (bad / "config.yaml").write_text((model_dir / "config.yaml").read_text())
    state = torch.load(model_dir / "last.pt", map_location="cpu", weights_only=True)
    state["ema"] = {"shadow": _Payload(marker)}
    torch.save(state, bad / "last.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(bad / "last.pt")
    write_audio(tmp_path / "in.wav", 0.01 * torch.randn(8000).numpy())
    rc = enhance.main([f"model={bad / 'last.pt'}", f"input={tmp_path / 'in.wav'}", f"output={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad / "last.pt") in err and "refused" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()                   # the payload never ran


def test_a_truncated_checkpoint_gives_one_line_naming_the_file(model_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text((model_dir / "config.yaml").read_text())
    data = (model_dir / "last.pt").read_bytes()
    (broken / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        load_checkpoint(broken / "last.pt")
    write_audio(tmp_path / "in.wav", 0.01 * torch.randn(8000).numpy())
    rc = enhance.main([f"model={broken}", f"input={tmp_path / 'in.wav'}", f"output={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{broken / 'last.pt'}: unreadable checkpoint" in err and len(err.strip().splitlines()) == 1


def test_the_exported_model_pt_loads_for_inference(model_dir, tmp_path):
    from benchmark.store import export_weights as _export_weights

    model = build_model(compose(base=OmegaConf.load(model_dir / "config.yaml")))
    _export_weights(model, model_dir)
    loaded = load_for_inference(str(model_dir / "model.pt"))
    reference = load_for_inference(str(model_dir))
    for a, b in zip(loaded.model.state_dict().values(), reference.model.state_dict().values()):
        assert torch.equal(a, b)


def test_train_refuses_to_resume_from_a_damaged_checkpoint(model_dir, tmp_path, tiny, capsys):
    from benchmark.train import main

    out = tmp_path / "m"
    out.mkdir()
    (out / "last.pt").write_bytes((model_dir / "last.pt").read_bytes()[:1000])
    rc = main([f"out={out}", *tiny, "trainer.max_steps=4"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{out / 'last.pt'}: unreadable checkpoint" in err and len(err.strip().splitlines()) == 1
