import pytest

from relay_autoconfig import Limits, Runtime


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    """The component, compiled once per test session ($AUTOCONFIG_COMPONENT or the built one)."""
    return Runtime()


@pytest.fixture(scope="session")
def unmetered_runtime() -> Runtime:
    """The same component compiled without fuel metering (``Limits(metering="off")``)."""
    return Runtime(limits=Limits(metering="off"))
