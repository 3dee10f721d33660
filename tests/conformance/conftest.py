"""Shows the conformance tables in the pytest summary, so CI logs carry them
without -s (the runc table is informational, never gating). Tests append
(title, text) pairs to ``config.pyoci_conformance_tables``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.pyoci_conformance_tables = []  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    for title, text in getattr(config, "pyoci_conformance_tables", []):
        terminalreporter.section(title)
        terminalreporter.write_line(text)
