"""linux.timeOffsets: a time namespace without offsets must not write anything
(an empty write to timens_offsets is EINVAL; the conformance suite found it)."""

from __future__ import annotations

import pytest

from pyoci.errors import ConfigError
from pyoci.namespaces import write_time_offsets


def test_no_offsets_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("timens_offsets opened without offsets")

    monkeypatch.setattr("builtins.open", refuse)
    write_time_offsets({})


def test_unknown_clock_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown clock"):
        write_time_offsets({"realtime": {"secs": 1}})
