import pytest

from relay_autoconfig import Runtime


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    """The component, compiled once per test session ($AUTOCONFIG_COMPONENT or the built one)."""
    return Runtime()
