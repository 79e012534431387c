"""kmock: a mock Kafka broker for tests, with fault injection, from Python.

`pip install ./python` (from the kmock repository) builds the `kmock` executable and installs it
with this package. `kmock.Broker(**settings)` runs it and wraps its control API; the pytest plugin
(`kmock.pytest_plugin`, registered automatically) gives tests the `kmock` and `kmock_factory`
fixtures. See python/README.md.
"""

from importlib.metadata import PackageNotFoundError, version

from ._broker import (
    SETTINGS,
    Broker,
    BrokerExitedError,
    BrokerStartError,
    ControlError,
    FaultSpecError,
    KmockError,
    NotFoundError,
    find_binary,
)

try:
    __version__ = version("kmock")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "SETTINGS",
    "Broker",
    "BrokerExitedError",
    "BrokerStartError",
    "ControlError",
    "FaultSpecError",
    "KmockError",
    "NotFoundError",
    "find_binary",
]
