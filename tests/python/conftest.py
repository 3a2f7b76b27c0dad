"""Shared fixtures for the VST3 (pedalboard) and GUI tests of the Postmix bundles.

POSTMIX_BUNDLES must name the directory holding the ten bundles (`cargo xtask test` sets it to
target/test-bundles). Without it the run stops with an error: these tests never skip silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _bundle_dir_or_error() -> Path:
    value = os.environ.get("POSTMIX_BUNDLES")
    if not value:
        raise pytest.UsageError(
            "POSTMIX_BUNDLES is not set: point it at a directory of Postmix bundles, e.g. "
            "POSTMIX_BUNDLES=$PWD/target/bundled after `cargo xtask bundle-all` "
            "(`cargo xtask test` sets it for you)."
        )
    path = Path(value)
    if not path.is_dir():
        raise pytest.UsageError(f"POSTMIX_BUNDLES={value} is not a directory")
    return path.resolve()


def pytest_configure(config: pytest.Config) -> None:
    # Asking pytest about itself needs no bundles.
    if config.getoption("help", False) or config.getoption("markers", False):
        return
    config.postmix_bundle_dir = _bundle_dir_or_error()


@pytest.fixture(scope="session")
def bundle_dir(pytestconfig: pytest.Config) -> Path:
    """The directory named by POSTMIX_BUNDLES (checked at start-up)."""
    return pytestconfig.postmix_bundle_dir
