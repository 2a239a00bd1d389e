"""`python -m benchmark.train`'s bad inputs (issue 48): each refused with a non-zero exit and one line
naming the file or key, no traceback, and nothing written or changed where it would have trained."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.train import main

ROOT = os.geteuid() == 0          # root writes through a read-only mode bit
STEPS = ["trainer.max_steps=4", "trainer.val_every=0", "trainer.log_every=2", "trainer.checkpoint_every=2"]


@pytest.fixture(scope="module")
def args(tiny):
    return [*tiny, *STEPS]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, args):
    """A finished tiny model folder, as `benchmark.train` leaves it; each case works on a copy."""
    out = tmp_path_factory.mktemp("trained") / "m"
    assert main([f"out={out}", *args]) == 0
    return out


def _no_data(args):
    # data=folder and data=vbdmd have no `sizes` or `seconds`: the synthetic set's keys go
    return [a for a in args if not a.startswith("data.")]


def _copy(trained, tmp_path):
    return Path(shutil.copytree(trained, tmp_path / "m"))


def snapshot(root: Path) -> dict:
    """Every path under root with its kind, bytes and mtime: any write or creation shows."""
    tree = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        tree[str(p.relative_to(root))] = (p.is_dir(), None if p.is_dir() else p.read_bytes(), st.st_mtime_ns)
    return tree


# Each case: (tmp_path, trained model folder, args) -> (argv, what the last line must name).
def out_is_a_file(tmp, trained, args):
    (tmp / "f").write_text("x")
    return [f"out={tmp / 'f'}", *args], f"{tmp / 'f'} is a file, not a folder"


def out_below_a_file(tmp, trained, args):
    (tmp / "f").write_text("x")
    return [f"out={tmp / 'f' / 'm'}", *args], f"{tmp / 'f'} is a file, not a folder"


def device_tpu(tmp, trained, args):
    return [f"out={tmp / 'm'}", *args, "device=tpu"], "device=tpu: unknown device; choose auto, cpu or cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def device_cuda(tmp, trained, args):
    return [f"out={tmp / 'm'}", *args, "device=cuda"], "device=cuda: no CUDA device on this machine"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def fp16_on_cpu(tmp, trained, args):
    return [f"out={tmp / 'm'}", *args, "trainer.precision=fp16"], "trainer.precision=fp16 needs CUDA"


def folder_without_root(tmp, trained, args):
    return [f"out={tmp / 'm'}", *_no_data(args), "data=folder"], "data.root"


def folder_root_missing(tmp, trained, args):
    return [f"out={tmp / 'm'}", *_no_data(args), "data=folder", f"data.root={tmp / 'nowhere'}"], \
        f"{tmp / 'nowhere'}"


def folder_root_a_file(tmp, trained, args):
    (tmp / "corpus").write_text("x")
    return [f"out={tmp / 'm'}", *_no_data(args), "data=folder", f"data.root={tmp / 'corpus'}"], \
        f"{tmp / 'corpus'}"


def folder_root_without_train(tmp, trained, args):
    (tmp / "corpus").mkdir()
    return [f"out={tmp / 'm'}", *_no_data(args), "data=folder", f"data.root={tmp / 'corpus'}"], \
        f"{tmp / 'corpus' / 'train'}"


def vbdmd_root_missing(tmp, trained, args):
    return [f"out={tmp / 'm'}", *_no_data(args), "data=vbdmd", f"data.root={tmp / 'nowhere'}"], \
        f"{tmp / 'nowhere'}"


def finished_model_other_lr(tmp, trained, args):
    out = _copy(trained, tmp)
    return [f"out={out}", *args, "trainer.lr=0.5"], "trainer.lr"


def finished_model_other_net(tmp, trained, args):
    out = _copy(trained, tmp)
    return [f"out={out}", *args, "net.base_channels=4"], "net.base_channels"


def weights_without_config_other_net(tmp, trained, args):
    out = _copy(trained, tmp)
    (out / "config.yaml").unlink()
    return [f"out={out}", *args, "net.base_channels=4"], f"{out / 'last.pt'}"


def weights_without_config_other_lr(tmp, trained, args):
    out = _copy(trained, tmp)
    (out / "config.yaml").unlink()
    return [f"out={out}", *args, "trainer.lr=0.5"], "trainer.lr"


def corrupt_checkpoint(tmp, trained, args):
    out = _copy(trained, tmp)
    (out / "last.pt").write_bytes((out / "last.pt").read_bytes()[:1000])
    return [f"out={out}", *args], f"{out / 'last.pt'}: unreadable checkpoint"


def unreadable_config(tmp, trained, args):
    out = _copy(trained, tmp)
    (out / "config.yaml").write_text("net: [unclosed\n")
    return [f"out={out}", *args], f"{out / 'config.yaml'}"


@pytest.mark.skipif(ROOT, reason="root writes through a read-only mode bit")
def out_read_only(tmp, trained, args):
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o555)
    return [f"out={tmp / 'ro' / 'm'}", *args], "is not writable"


CASES = [out_is_a_file, out_below_a_file, device_tpu, device_cuda, fp16_on_cpu, folder_without_root,
         folder_root_missing, folder_root_a_file, folder_root_without_train, vbdmd_root_missing,
         finished_model_other_lr, finished_model_other_net, weights_without_config_other_net,
         weights_without_config_other_lr, corrupt_checkpoint, unreadable_config, out_read_only]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.__name__, marks=getattr(c, "pytestmark", []))
                                  for c in CASES])
def test_train_refuses_a_bad_input_in_one_line_before_writing(case, tmp_path, trained, args, capsys):
    argv, named = case(tmp_path, trained, args)
    before = snapshot(tmp_path)
    try:
        rc = main(argv)
    finally:
        if (tmp_path / "ro").exists():
            (tmp_path / "ro").chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err and "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and named in last, err
    assert snapshot(tmp_path) == before


def test_the_same_command_on_a_finished_model_changes_nothing_it_was_trained_with(tmp_path, trained, args, capsys):
    import json

    out = _copy(trained, tmp_path)
    config = (out / "config.yaml").read_text()
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert main([f"out={out}", *args]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out / "config.yaml").read_text() == config
    assert result["steps"] == 4 and result["resumed_from"] == 4
    assert result["final_loss"] == log[-1]["loss"]          # the last logged loss, not NaN


def test_a_corrupt_checkpoint_under_python_m_says_delete_it_in_one_line(tmp_path, trained, args):
    out = _copy(trained, tmp_path)
    (out / "last.pt").write_bytes((out / "last.pt").read_bytes()[:1000])
    done = subprocess.run([sys.executable, "-m", "benchmark.train", f"out={out}", *args], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    err = done.stderr.strip()
    assert done.returncode == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err == (f"error: {out / 'last.pt'}: unreadable checkpoint, truncated or not a PyTorch file "
                   f"{err.split('PyTorch file ', 1)[1].split(') ', 1)[0]}) (delete it to train from scratch)")
