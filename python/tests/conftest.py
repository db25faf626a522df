"""pytest configuration: the suite runs against the installed wheel, and nothing is skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import bitnet_gguf
import pytest


def pytest_configure(config):
    # The package must come from the venv the wheel was installed into, not from a build tree.
    location = Path(bitnet_gguf.__file__).resolve()
    if Path(sys.prefix).resolve() not in location.parents:
        raise pytest.UsageError(f"bitnet_gguf is imported from {location}, not from {sys.prefix}")


def pytest_sessionfinish(session, exitstatus):
    # A skipped test would be a test that did not run: the suite fails instead.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
