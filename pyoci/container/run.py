"""``pyoci run``: create and start in one go, then (unless ``--detach``) stay.

In the foreground, pyoci is a child subreaper, so the container's init (a
grandchild once stage 1 exits) is reparented to it: it waits for the init,
forwards the signals it receives, exits with the init's status (128+signal if
the init was killed) and then deletes the container, as ``runc run`` does.
"""

from __future__ import annotations

import os

from pyoci import syscalls
from pyoci.container.create import CreateOptions, create
from pyoci.container.delete import destroy
from pyoci.container.start import start
from pyoci.container.state import StateStore
from pyoci.errors import ContainerNotFound
from pyoci.process.foreground import forward_signals, wait_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.process.prefork import Prefork


def run(store: StateStore, opts: CreateOptions, *, detach: bool,
        prefork: Prefork | None = None) -> int:
    opts.detached = detach
    state = create(store, opts, prefork)
    init_pid = state.init.pid
    # Stays as long as the container: nothing in it may open /proc/<us>/ (after
    # create, whose rootless parent needs us dumpable to write the id maps).
    syscalls.set_dumpable(False)
    if detach:
        start(store, opts.container_id)
        return 0
    forward_signals(init_pid)
    try:
        master = _take_terminal(opts)
        start(store, opts.container_id)
        if master is not None:
            _relay_until_exit(master, init_pid)
        status = wait_for(init_pid)
    finally:
        _destroy(store, opts.container_id)
    return status


def _destroy(store: StateStore, container_id: str) -> None:
    """Delete the container at exit; a failed start may have destroyed it already
    (a failing startContainer or poststart hook), and its error must show."""
    try:
        cdir = store.open(container_id)
    except ContainerNotFound:
        return
    with cdir:
        destroy(cdir, cdir.load())


def _take_terminal(opts: CreateOptions) -> int | None:
    """The container's pty master, when create made one for this foreground run."""
    if opts.console_receiver is None:
        return None
    from pyoci.process.console import receive_master

    try:
        return receive_master(opts.console_receiver)
    finally:
        opts.console_receiver.close()


def _relay_until_exit(master: int, init_pid: int) -> None:
    from pyoci.process.console import relay

    pidfd = os.pidfd_open(init_pid)
    try:
        relay(master, pidfd)
    finally:
        os.close(pidfd)
        os.close(master)
