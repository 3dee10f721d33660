"""``linux.seccomp`` checks that need no container: validation, the fd-carrying
sync message, and the hot path staying free of libseccomp."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pyoci.errors import ConfigError
from pyoci.process import protocol
from pyoci.security import seccomp


def config(**section: object) -> dict:
    return {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", **section}}}


def test_no_seccomp_keeps_libseccomp_unloaded() -> None:
    code = ("import sys; import pyoci.container.create; from pyoci.security import seccomp; "
            "seccomp.check({'linux': {}}); print('pyoci.security.libseccomp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_valid_section_is_prepared() -> None:
    cfg = config(syscalls=[{"names": ["mkdir", "pyoci_nonexistent"], "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NE"}]}])
    seccomp.check(cfg)
    assert seccomp._prepared is not None and seccomp._prepared.section is cfg["linux"]["seccomp"]


@pytest.mark.parametrize(("section", "message"), [
    ({"architectures": ["SCMP_ARCH_Z80"]},
     'linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_Z80"'),
    ({"flags": ["SECCOMP_FILTER_FLAG_NOPE"]}, 'linux.seccomp.flags[0]: unknown flag'),
    ({"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_WHAT"}]}]},
     'linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_WHAT"'),
    ({"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_X"}]},
     'linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_X"'),
    ({"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]},
     "linux.seccomp.syscalls[0].errnoRet: action SCMP_ACT_KILL takes no errno"),
    ({"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]},
     "linux.seccomp.syscalls[0].errnoRet: 70000 is not an errno"),
    ({"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.listenerPath: required with SCMP_ACT_NOTIFY"),
    ({"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_NOTIFY"}], "listenerPath": "rel"},
     "linux.seccomp.listenerPath: 'rel' is not an absolute path"),
])
def test_errors(section: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        seccomp.check(config(**section))
    assert message in info.value.message


def test_sync_message_carries_an_fd() -> None:
    parent, child = protocol.channel_pair()
    r, w = os.pipe()
    try:
        protocol.send_fds(child, protocol.Message(protocol.SECCOMP), [w])
        msg = protocol.expect(parent, protocol.SECCOMP)
        assert msg.fd >= 0 and msg.fd != w
        os.write(msg.fd, b"x")
        os.close(msg.fd)
        assert os.read(r, 1) == b"x"
    finally:
        for fd in (r, w):
            os.close(fd)
        parent.close()
        child.close()
