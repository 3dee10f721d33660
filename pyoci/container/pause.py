"""``pyoci pause`` / ``pyoci resume``: freeze and thaw the container's cgroup.

The status is never recorded: ``state`` derives ``paused`` from the freezer,
so a container thawed behind pyoci's back reads as running again.
"""

from __future__ import annotations

from pyoci.container.state import CREATED, PAUSED, RUNNING, StateStore
from pyoci.errors import StatusError


def pause(store: StateStore, container_id: str) -> None:
    """runc pauses a running or created container, else "container not running"."""
    from pyoci.cgroups.manager import manager_from_state

    with store.open(container_id) as cdir:
        state = cdir.load()
        if state.current_status(cdir.path) not in (RUNNING, CREATED):
            raise StatusError("container not running")
        manager_from_state(state.cgroup).freeze()


def resume(store: StateStore, container_id: str) -> None:
    from pyoci.cgroups.manager import manager_from_state

    with store.open(container_id) as cdir:
        state = cdir.load()
        if state.current_status(cdir.path) != PAUSED:
            raise StatusError("container not paused")
        manager_from_state(state.cgroup).thaw()
