"""What `pip install ./python` installed is what these tests exercise: the package from
site-packages (not the source tree), the `kmock` executable from the environment's scripts
directory, the pytest plugin registered through its entry point."""

import subprocess
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

import kmock


def test_the_package_is_imported_from_site_packages():
    package = Path(kmock.__file__).resolve().parent
    site_packages = {Path(sysconfig.get_path(name)).resolve() for name in ("purelib", "platlib")}
    assert package.parent in site_packages, f"kmock imported from {package}, not {site_packages}"
    assert (package / "py.typed").is_file()
    assert kmock.__version__ == distribution("kmock").version != "0+unknown"


def test_the_executable_is_the_installed_one(monkeypatch):
    monkeypatch.delenv("KMOCK_BIN", raising=False)
    installed = Path(sysconfig.get_path("scripts")) / (
        "kmock" + (sysconfig.get_config_var("EXE") or "")
    )
    assert kmock.find_binary() == str(installed)
    version = subprocess.run(
        [str(installed), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == f"kmock {kmock.__version__}"
    module = subprocess.run(
        [sys.executable, "-m", "kmock", "--version"], capture_output=True, text=True, check=True
    )
    assert module.stdout == version.stdout


def test_the_pytest_plugin_is_registered_by_its_entry_point():
    entry_points = [ep for ep in distribution("kmock").entry_points if ep.group == "pytest11"]
    assert [(ep.name, ep.value) for ep in entry_points] == [("kmock", "kmock.pytest_plugin")]


def test_the_package_needs_nothing_beyond_the_standard_library():
    assert distribution("kmock").requires in (None, []) or all(
        "extra ==" in requirement for requirement in distribution("kmock").requires
    ), distribution("kmock").requires
