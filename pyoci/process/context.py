"""What the parent hands the forked children: the config and everything create
opened for them.

Its own module so that the parent builds it without importing the init's code
(pyoci.process.init and the rootfs, setup and security modules under it): stage
1 imports that after the fork, while the parent makes the cgroup.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up

from pyoci.namespaces import NamespacePlan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cgroups.join import CgroupJoin

PREFAULT_BELOW = 64 << 20


class InitContext:
    """Everything the children need; fork hands it over without serialising."""

    def __init__(self, container_id: str, bundle: str, config: dict,
                 namespaces: NamespacePlan, *, exec_listener: socket.socket | None = None,
                 console_socket: socket.socket | None = None, preserve_fds: int = 0,
                 no_pivot: bool = False, no_new_keyring: bool = False,
                 extra_env: list[str] | None = None, debug: bool = False,
                 parent_fds: list[int] | None = None, rootless: bool = False) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.config = config
        self.namespaces = namespaces
        self.exec_listener = exec_listener
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.extra_env = extra_env or []
        self.debug = debug
        # The parent's fds the children must not keep, e.g. the state dir's flock.
        self.parent_fds = parent_fds or []
        self.rootless = rootless
        # The state document (runtime.md) for createContainer and startContainer
        # hooks, set by create when the config has hooks; the init fills in its
        # host pid (from RESUME) and the status of the moment.
        self.hook_state: dict | None = None
        # Stage 1 sets it for the init: the files GO brought (pyoci.cgroups.join).
        self.cgroup_join: CgroupJoin | None = None

    @property
    def prefaults(self) -> bool:
        """Whether the init copies every page it shares with pyoci before it
        joins the cgroup (and says PREFAULTED): only below PREFAULT_BELOW of
        memory limit, where those ~6 MiB of copies would be charged to the
        container and could exhaust it; above it they fit anyway and the ~3 ms
        of CPU are saved."""
        memory = ((self.config.get("linux") or {}).get("resources") or {}).get("memory") or {}
        limit = memory.get("limit")
        return isinstance(limit, int) and 0 < limit < PREFAULT_BELOW
