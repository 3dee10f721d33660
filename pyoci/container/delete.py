"""``pyoci delete``: remove exactly what ``create`` made.

That is the state directory (with the exec socket) and the cgroup directories
``create`` recorded as its own. A running container is refused unless
``--force``, which kills every process of the container and waits for the
init to be gone first. ``--force`` on an id that does not exist succeeds: the
containerd shim calls it after every exit.
"""

from __future__ import annotations

import _signal as signal  # signal.py's enums cost ~5 ms of start-up
import posix  # not os: see pyoci/paths.py
import select

from pyoci import faults, paths
from pyoci.cgroups.manager import manager_from_state
from pyoci.container.state import (
    CREATED,
    CREATING,
    STOPPED,
    ContainerDir,
    ContainerState,
    ProcessIdentity,
    StateStore,
)
from pyoci.errors import ContainerNotFound, PyociError, StatusError


def delete(store: StateStore, container_id: str, *, force: bool) -> None:
    try:
        cdir = store.open(container_id)
    except ContainerNotFound:
        if force:
            return
        raise
    with cdir:
        try:
            state = cdir.load()
        except PyociError as e:
            if not force:
                raise
            _destroy_unreadable(cdir, container_id, e)
            return
        status = state.current_status(cdir.path)
        if status not in (STOPPED, CREATED, CREATING) and not force:
            raise StatusError(f"cannot delete container {container_id} that is not stopped: "
                              f"{status}")
        destroy(cdir, state)


def destroy(cdir: ContainerDir, state: ContainerState) -> None:
    """Kill what is left, remove the cgroup and the state directory, then run
    the poststop hooks (``delete``, ``run``'s exit and a failed ``start``)."""
    cgroup = manager_from_state(state.cgroup)
    if cgroup.is_frozen():
        from pyoci.cgroups.manager import thaw

        thaw(cgroup)
    cgroup.kill_all(signal.SIGKILL)
    stop_process(state.init)
    stop_process(state.creator)
    faults.maybe_fail("delete.killed")
    cgroup.destroy()
    faults.maybe_fail("delete.cgroup")
    cdir.remove()
    if state.config.get("hooks"):
        _run_poststop(state)


def _destroy_unreadable(cdir: ContainerDir, container_id: str, err: PyociError) -> None:
    """``delete --force`` of a state that cannot be read: a torn state.json, or a
    create killed before it wrote one. The id is all that is known, so what goes
    is the cgroup create makes by default (``/<id>`` in every hierarchy, with its
    processes) and the directory; the warning says so, as a custom cgroupsPath
    cannot be found this way."""
    from pyoci.cgroups.manager import manager_for_config
    from pyoci.container.state import StateFileMissing

    try:
        default = manager_for_config({}, container_id, systemd=False).paths
    except PyociError:
        default = {}
    found = {h: p for h, p in default.items() if paths.isdir(p)}
    cgroup = {"driver": "cgroupfs", "paths": found, "created": list(found.values())}
    destroy(cdir, ContainerState(id=container_id, bundle="", rootfs="", cgroup=cgroup))
    if not isinstance(err, StateFileMissing):
        from pyoci.log import warn

        warn(f"{err.message}: removed the state directory"
             + (f" and cgroup /{container_id}" if found else ""))


def _run_poststop(state: ContainerState) -> None:
    """Lifecycle step 13: after the container is gone, before delete returns, in
    pyoci's namespaces; a failing hook is a warning (stderr and --log) and
    changes nothing else, as runtime.md asks. Without poststop hooks nothing is
    imported (hooks.py, log.py: start-up time of every delete and run)."""
    if not (state.config.get("hooks") or {}).get("poststop"):
        return
    from pyoci.container.hooks import hooks_of, run_hooks
    from pyoci.log import warn

    run_hooks("poststop", hooks_of(state.config, "poststop"), state.public(STOPPED), warn=warn)


def stop_process(ident: ProcessIdentity, timeout: float = 10.0) -> None:
    """SIGKILL a process if it is still the one we recorded, and wait until it is gone."""
    if ident.pid <= 0 or ident.pid == posix.getpid():
        return
    try:
        pidfd = posix.pidfd_open(ident.pid)
    except ProcessLookupError:
        return
    try:
        if not ident.alive():
            return
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        # A pidfd polls readable once the process has exited (zombie or reaped).
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(int(timeout * 1000)):
            raise PyociError(f"process {ident.pid} did not exit after SIGKILL")
        _reap_if_ours(ident.pid)
    except ProcessLookupError:
        pass
    finally:
        posix.close(pidfd)


def _reap_if_ours(pid: int) -> None:
    try:
        posix.waitpid(pid, posix.WNOHANG)
    except ChildProcessError:
        pass
