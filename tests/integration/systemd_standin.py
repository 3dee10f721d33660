"""A STAND-IN for systemd's org.freedesktop.systemd1.Manager, for the driver's tests.

No systemd runs on the machines these tests run on, so test_systemd_driver.py
starts a private dbus-daemon and runs this script (a separate process, so pyoci
itself stays single-threaded) as ``org.freedesktop.systemd1`` on it. It does
the least a real systemd does for a transient scope, on the real cgroup
hierarchies: StartTransientUnit makes the scope's directory (under its slice,
laid out as systemd does) in every hierarchy and moves the PIDs there;
StopUnit kills what is left and removes those directories; GetUnit and the
scope's ControlGroup property say where it is; both methods answer with a
job path, then emit JobRemoved(…, "done"). Every call is appended to a JSON
lines log so the tests can check what pyoci asked for.

Usage: systemd_standin.py BUS_ADDRESS LOG_FILE   (prints "ready" once it owns the name)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

MANAGER = "org.freedesktop.systemd1.Manager"
PATH = "/org/freedesktop/systemd1"


# What systemd does not manage on a v1 host: runc (and pyoci) join these itself.
UNMANAGED = {"cpuset", "freezer", "net_cls", "net_prio", "net_cls,net_prio", "perf_event",
             "hugetlb", "rdma", "misc"}


def hierarchies() -> list[str]:
    """The mounts a v1 systemd populates for a scope (cgroup2 included)."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[0] in ("cgroup", "cgroup2") and pre.split()[4].startswith(
                    "/sys/fs/cgroup") and os.path.basename(pre.split()[4]) not in UNMANAGED:
                mounts.append(pre.split()[4])
    return mounts


def slice_path(name: str) -> str:
    stem, path, prefix = name.removesuffix(".slice"), "", ""
    for part in stem.split("-"):
        prefix = f"{prefix}-{part}" if prefix else part
        path += f"/{prefix}.slice"
    return path


def unit_path(unit: str) -> str:
    return PATH + "/unit/" + "".join(c if c.isalnum() else f"_{ord(c):02x}" for c in unit)


class StandIn:
    def __init__(self, log: str) -> None:
        self.log = log
        self.units: dict[str, str] = {}  # unit -> cgroup
        self.made: dict[str, list[str]] = {}  # unit -> directories made, parents first
        self.jobs = 0

    def record(self, method: str, body: object) -> None:
        with open(self.log, "a") as f:
            f.write(json.dumps({"method": method, "body": body}) + "\n")

    def start(self, unit: str, props: list) -> str:
        values = {name: value for name, (_, value) in props}
        cgroup = slice_path(values.get("Slice", "system.slice")) + "/" + unit
        made = []
        for mount in hierarchies():
            path = mount
            for part in cgroup.strip("/").split("/"):
                path = os.path.join(path, part)
                if not os.path.isdir(path):
                    os.mkdir(path)
                    made.append(path)
            for pid in values.get("PIDs", []):
                with open(os.path.join(path, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
        self.units[unit], self.made[unit] = cgroup, made
        return cgroup

    def stop(self, unit: str) -> None:
        cgroup = self.units.pop(unit)
        for mount in hierarchies():
            try:
                with open(mount + cgroup + "/cgroup.procs") as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        for path in sorted(self.made.pop(unit), key=len, reverse=True):
            for _ in range(200):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # tasks still leaving, or pyoci's own made dirs


def main() -> None:
    address, log = sys.argv[1], sys.argv[2]
    standin = StandIn(log)
    conn = open_dbus_connection(address)
    reply = conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.systemd1"))
    assert reply.body[0] == 1, reply.body
    print("ready", flush=True)
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        standin.record(member, msg.body)
        try:
            conn.send(handle(standin, conn, msg, member))
        except KeyError as e:
            conn.send(new_error(msg, "org.freedesktop.systemd1.NoSuchUnit", "s",
                                (f"Unit {e.args[0]} not loaded.",)))
        except Exception as e:  # noqa: BLE001
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.Failed", "s", (repr(e),)))


def handle(standin: StandIn, conn, msg, member: str):  # noqa: ANN001, ANN201
    """One method call; jobs are done at once, JobRemoved follows the reply."""
    if member in ("StartTransientUnit", "StopUnit"):
        unit = msg.body[0]
        if member == "StartTransientUnit":
            if unit in standin.units:
                return new_error(msg, "org.freedesktop.systemd1.UnitExists", "s",
                                 (f"Unit {unit} already exists.",))
            standin.start(unit, msg.body[2])
        else:
            if unit not in standin.units:
                raise KeyError(unit)
            standin.stop(unit)
        standin.jobs += 1
        job = f"{PATH}/job/{standin.jobs}"
        conn.send(new_method_return(msg, "o", (job,)))
        return new_signal(DBusAddress(PATH, interface=MANAGER), "JobRemoved", "uoss",
                          (standin.jobs, job, unit, "done"))
    if member == "GetUnit":
        unit = msg.body[0]
        standin.units[unit]  # noqa: B018  KeyError: NoSuchUnit
        return new_method_return(msg, "o", (unit_path(unit),))
    if member == "Get" and msg.body[1] == "ControlGroup":
        path = msg.header.fields.get(HeaderFields.path)
        for unit, cgroup in standin.units.items():
            if unit_path(unit) == path:
                return new_method_return(msg, "v", (("s", cgroup),))
        raise KeyError(path)
    return new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member,))


if __name__ == "__main__":
    main()
