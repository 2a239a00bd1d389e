"""benchmark/runtime.py: the device a command asks for is refused in one line before any work."""
import pytest
import torch

from benchmark.runtime import select_device

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", "cpu:0:1", ""])
def test_an_unknown_device_is_refused_naming_the_choices(name):
    with pytest.raises(ValueError, match=rf"^device={name}: unknown device; choose auto, cpu or cuda"):
        select_device(name)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_on_a_machine_without_it_is_refused(name):
    with pytest.raises(ValueError, match=rf"^device={name}: no CUDA device on this machine$"):
        select_device(name)


def test_cuda_beyond_the_machines_count_is_refused():
    name = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ValueError, match=rf"^device={name}: "):
        select_device(name)


def test_the_devices_there_are_resolve():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type == ("cpu" if NO_CUDA else "cuda")
    if not NO_CUDA:
        assert select_device("cuda:0") == torch.device("cuda:0")
