import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    # These nets are tiny: a second thread only adds a barrier per op, which costs milliseconds
    # each when the other core is busy. Restored afterwards so other test folders are unaffected.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
