"""``pyoci ps``: the processes in a container's cgroup, as ``runc ps``.

``--format json`` prints the host pids as a JSON array, or ``null`` when there
are none (runc marshals a nil Go slice; the containerd shim expects exactly
that for a stopped container). The table runs the host's ``ps`` with the given
arguments (``-ef`` by default) and keeps the header and the lines whose PID
column names a process of the container.
"""

from __future__ import annotations

import os

from pyoci import jsonio
from pyoci.container.state import StateStore
from pyoci.errors import PyociError, UsageError


def container_pids(store: StateStore, container_id: str) -> list[int]:
    from pyoci.cgroups.manager import manager_from_state

    with store.open(container_id, lock=False) as cdir:
        state = cdir.load()
        return manager_from_state(state.cgroup).all_pids()


def json_text(pids: list[int]) -> str:
    return jsonio.dumps(pids) if pids else "null"


def table_text(pids: list[int], ps_args: list[str]) -> str:
    output = _run_ps(ps_args or ["-ef"])
    lines = output.split("\n")
    index = _pid_index(lines[0])
    wanted = set(pids)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[index])
        except (ValueError, IndexError):
            raise PyociError(f"unable to parse pid: {line.strip()!r}") from None
        if pid in wanted:
            kept.append(line)
    return "\n".join(kept)


def _pid_index(header: str) -> int:
    fields = header.split()
    if "PID" not in fields:
        raise PyociError("couldn't find PID field in ps output")
    return fields.index("PID")


def _run_ps(args: list[str]) -> str:
    """Fork and exec ps with a pipe: subprocess would cost ~10 ms of imports."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only execs
        try:
            os.dup2(write_end, 1)
            os.execvp("ps", ["ps", *args])
        finally:
            os._exit(127)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as f:
        while chunk := f.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise PyociError(f"ps {' '.join(args)}: exit status {os.waitstatus_to_exitcode(status)}")
    return b"".join(chunks).decode(errors="replace")


def check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise UsageError(f"--format: invalid format {fmt!r} (want table or json)")
