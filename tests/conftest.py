"""Shared fixtures."""
import pytest
import torch


@pytest.fixture
def float64_default():
    """For tests that build tensors without dtype arguments: run them in float64 and restore the default after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
