"""``pyoci run`` of a config with ``terminal: true`` and no console socket.

Like ``runc run``, pyoci gives the process its own pty and relays it to the
caller's stdio, so ``pyoci spec && pyoci run`` gives an interactive shell.
"""

from __future__ import annotations

import uuid

from tests.conftest import Bundle, Pyoci, needs_root


def _terminal(bundle: Bundle, *args: str) -> None:
    def edit(cfg: dict) -> None:
        cfg["process"]["terminal"] = True
        cfg["process"]["args"] = list(args)
    bundle.edit(edit)


@needs_root
def test_foreground_run_gets_a_pty_and_relays_it(pyoci: Pyoci, bundle: Bundle) -> None:
    _terminal(bundle, "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty; exit 3")
    cid = f"pyoci-tty-{uuid.uuid4().hex[:6]}"
    out = pyoci("run", "--bundle", str(bundle.path), cid, check=False, input=b"")
    assert out.returncode == 3, out.stderr
    lines = out.stdout.decode().split("\r\n")
    assert lines[0].startswith("/dev/pts/")
    assert lines[1] == "stdin-is-a-tty"
    assert pyoci.ids() == []


@needs_root
def test_foreground_terminal_relays_input(pyoci: Pyoci, bundle: Bundle) -> None:
    _terminal(bundle, "sh", "-c", "read line; echo got:$line")
    cid = f"pyoci-tty-{uuid.uuid4().hex[:6]}"
    out = pyoci("run", "--bundle", str(bundle.path), cid, input=b"hello\n")
    assert "got:hello" in out.stdout.decode()
