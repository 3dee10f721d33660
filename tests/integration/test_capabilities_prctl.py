"""pyoci sets capabilities through its own syscalls; python-prctl reads them back.

python-prctl (built on libcap) is an independent reader: if pyoci's capset or
bounding-set code used a wrong bit layout, the two would disagree.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import needs_root

prctl = pytest.importorskip("prctl", reason="python-prctl is not installed")

WANTED = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]
NOT_WANTED = ["CAP_DAC_OVERRIDE", "CAP_NET_RAW", "CAP_SETUID", "CAP_SYS_PTRACE"]


def _in_child(body) -> dict:  # noqa: ANN001
    """Run ``body`` in a forked child (it changes credentials for good) and return its dict."""
    import json

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            result = body()
        except BaseException as exc:  # noqa: BLE001
            result = {"error": repr(exc)}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@needs_root
def test_capability_sets_read_back_by_python_prctl() -> None:
    from pyoci.security.capabilities import (
        apply_capabilities,
        drop_bounding,
        parse_capabilities,
    )

    def body() -> dict:
        sets = parse_capabilities({k: WANTED for k in
                                   ("bounding", "effective", "permitted", "inheritable")})
        drop_bounding(sets)
        apply_capabilities(sets)
        names = WANTED + NOT_WANTED
        short = {n: n.removeprefix("CAP_").lower() for n in names}
        return {
            "effective": [n for n in names if getattr(prctl.cap_effective, short[n])],
            "permitted": [n for n in names if getattr(prctl.cap_permitted, short[n])],
            "inheritable": [n for n in names if getattr(prctl.cap_inheritable, short[n])],
            "bounding": [n for n in names if prctl.capbset_read(getattr(prctl, n))],
        }

    result = _in_child(body)
    assert "error" not in result, result
    for key in ("effective", "permitted", "inheritable", "bounding"):
        assert result[key] == WANTED, key
