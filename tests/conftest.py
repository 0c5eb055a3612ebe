"""Fixtures shared by several test modules."""

import pytest


@pytest.fixture(scope="module")
def torch_one_thread():
    """Small convolutions run fastest on one torch thread, more so on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
