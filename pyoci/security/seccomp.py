"""Seccomp filters through libseccomp (issue 3, work in progress).

runc's timing: without noNewPrivileges loading a filter is privileged, so it
happens before capabilities are dropped (:func:`load_privileged`); with it,
as late as possible, just before execve (:func:`load_late`). Until
implemented, a config with ``linux.seccomp`` is refused, never run unfiltered.
"""

from __future__ import annotations

from pyoci.errors import ConfigError


def check(config: dict) -> None:
    if (config.get("linux") or {}).get("seccomp"):
        raise ConfigError("linux.seccomp: not supported yet")


def load_privileged(config: dict) -> None:
    check(config)


def load_late(config: dict) -> None:
    check(config)
