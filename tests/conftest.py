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


# hypothesis profiles for the property-based tests (tests/test_properties.py): "ci" by default (a bounded,
# derandomized run), "local" for a long search: HYPOTHESIS_PROFILE=local python -m pytest tests/test_properties.py
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in the test extra; without it only test_properties.py fails to import
    pass
else:
    import os

    settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, database=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("local", max_examples=2000, deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
