"""Shared fixtures for the tests of the installed `tkms` package (scripts/python-package.sh).

These tests import only the installed package; the `tkms` Rust binary they compare against is
named by TKMS_BINARY (the script builds it).
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

# pytester runs inner sessions for the plugin's own tests (test_plugin.py).
pytest_plugins = ["pytester"]


def pytest_configure(config):
    # Fail, never skip, when the suite would test a source tree instead of the installed package.
    import tkms

    location = pathlib.Path(tkms.__file__).resolve()
    if "site-packages" not in location.parts:
        raise pytest.UsageError(f"tkms imported from {location}, not from an installed package")


@pytest.fixture(scope="session")
def tkms_binary() -> str:
    """The `tkms` Rust binary."""
    binary = os.environ.get("TKMS_BINARY")
    if not binary or not os.access(binary, os.X_OK):
        raise pytest.UsageError("set TKMS_BINARY to the tkms binary (scripts/python-package.sh does)")
    return str(pathlib.Path(binary).resolve())


@pytest.fixture(scope="session")
def console_script() -> str:
    """The `tkms` console script pip installed next to this interpreter."""
    script = pathlib.Path(sys.executable).parent / "tkms"
    assert script.exists(), f"pip did not install the console script at {script}"
    return str(script)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def key_pairs(tmp_path_factory) -> dict:
    """{"rsa": (public PEM path, private PEM path), "sm2": (...)}, made with openssl."""
    if shutil.which("openssl") is None:
        raise pytest.UsageError("openssl is required (scripts/test.sh checks it too)")
    root = tmp_path_factory.mktemp("keys")
    pairs = {}
    for name, algorithm in (("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]), ("sm2", ["-algorithm", "SM2"])):
        private = root / f"{name}.key.pem"
        public = root / f"{name}.pub.pem"
        _openssl("genpkey", *algorithm, "-out", str(private))
        _openssl("pkey", "-in", str(private), "-pubout", "-out", str(public))
        pairs[name] = (public, private)
    return pairs


@pytest.fixture
def clean_env(monkeypatch) -> None:
    """No TKMS_*/TENCENTCLOUD_* variables leak in from the caller's environment."""
    for name in list(os.environ):
        if name.startswith(("TKMS_", "TENCENTCLOUD_")):
            monkeypatch.delenv(name)
