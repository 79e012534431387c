"""The kmock package's own tests. Run them against the INSTALLED package (CI installs it into a
fresh venv and runs them from outside the clone: .ci/python-package); `test_installed.py` fails if
the package or the executable come from anywhere else."""

from typing import Callable

import pytest
from kafka_wire import api_versions_request

pytest_plugins = ["pytester"]


@pytest.fixture
def send_api_versions() -> Callable[[str, str], None]:
    """`send_api_versions(bootstrap_servers, client_id)`: one ApiVersions request over TCP."""
    return api_versions_request
