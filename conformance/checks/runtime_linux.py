"""Checks derived from runtime-linux.md (file descriptors, /dev symlinks) and the
Linux ABI paths of config-linux.md (default filesystems, default devices).

Observed from inside the container (busybox ``readlink``/``stat``) or from the
host (``/proc/<pid>/fd``, ``/proc/<pid>/mountinfo``).
"""

from __future__ import annotations

import os
from pathlib import Path

from conformance.checks.runtime import running_container
from conformance.framework import Context, check, require

# ---------------------------------------------------------------- file descriptors


def _fds(pid: int) -> list[int]:
    return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))


@check(id="rtlinux.fds.stdio-only", spec="runtime-linux.md#file-descriptors", level="MAY",
       text="By default, only the stdin, stdout and stderr file descriptors are kept open for "
            "the application by the runtime. The runtime MAY pass additional file descriptors "
            "(asked for: an fd 3 the caller leaked is not passed).")
def fds_stdio_only(ctx: Context) -> None:
    leak = ctx.path("leaked")
    leak.write_text("leak")
    bundle = ctx.bundle("sleep", "1000")
    cid = ctx.new_id()
    bundle.write()
    proc = ctx.rt("create", "--bundle", str(bundle.path), cid, fd3=leak,
                  stdout=ctx.out_file(cid), stderr=ctx.err_file(cid))
    require(proc.ok, f"create failed: {proc.describe()}")
    ctx.start(cid)
    ctx.wait_status(cid, "running")
    fds = _fds(ctx.host_pid(cid))
    require(fds == [0, 1, 2], f"the program has fds {fds}, not only 0 1 2")


@check(id="rtlinux.fds.stdio-passed", spec="runtime-linux.md#file-descriptors", level="MAY",
       text="By default, only the stdin, stdout and stderr file descriptors are kept open for "
            "the application (they are the caller's: what it gives create is what the "
            "program reads and writes). Some MAY be redirected to /dev/null.")
def fds_stdio_passed(ctx: Context) -> None:
    stdin = ctx.path("stdin")
    stdin.write_text("cf-from-stdin\n")
    bundle = ctx.bundle("sh", "-c", "read line; echo \"out:$line\"; echo cf-err >&2")
    cid = ctx.create(bundle, None, stdin=stdin).cid
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    require("out:cf-from-stdin" in ctx.out(cid), f"stdout: {ctx.out(cid)!r}")
    err = ctx.err_file(cid).read_text()
    require("cf-err" in err, f"stderr: {err!r}")


@check(id="rtlinux.fds.preserve", spec="runtime-linux.md#file-descriptors", level="MAY",
       text="The runtime MAY pass additional file descriptors to the application to support "
            "features such as socket activation (runc's --preserve-fds 1 passes fd 3).")
def fds_preserve(ctx: Context) -> None:
    extra = ctx.path("extra")
    extra.write_text("cf-fd3-content\n")
    bundle = ctx.bundle("sh", "-c", "cat <&3").write()
    cid = ctx.new_id()
    proc = ctx.rt("create", "--preserve-fds", "1", "--bundle", str(bundle.path), cid,
                  fd3=extra, stdout=ctx.out_file(cid), stderr=ctx.err_file(cid))
    require(proc.ok, f"create --preserve-fds 1 failed: {proc.describe()}")
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    require("cf-fd3-content" in ctx.out(cid), f"fd 3 read: {ctx.out(cid)!r}")


# ---------------------------------------------------------------- /dev symlinks

DEV_LINKS = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
             "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"}


def _dev_link_check(dest: str, source: str) -> None:
    def body(ctx: Context) -> None:
        out = ctx.output(ctx.bundle(), f"readlink {dest}").strip()
        require(out == source, f"{dest} -> {out!r}, expected {source}")

    name = dest.rsplit("/", 1)[1]
    check(id=f"rtlinux.dev-symlink.{name}", spec="runtime-linux.md#dev-symbolic-links",
          level="MUST",
          text=f"While creating the container, runtimes MUST create the following symlinks if "
               f"the source file exists after processing mounts: {source} -> {dest}.")(body)


for _dest, _source in DEV_LINKS.items():
    _dev_link_check(_dest, _source)


@check(id="rtlinux.dev-symlink.usable", spec="runtime-linux.md#dev-symbolic-links",
       level="MUST",
       text="runtimes MUST create the following symlinks if the source file exists after "
            "processing mounts (writing to /dev/stdout reaches the process's stdout).")
def dev_symlink_usable(ctx: Context) -> None:
    out = ctx.output(ctx.bundle(), "echo cf-via-dev-stdout > /dev/stdout")
    require("cf-via-dev-stdout" in out, f"stdout: {out!r}")


# ---------------------------------------------------------------- default filesystems

DEFAULT_FS = {"/proc": "proc", "/sys": "sysfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs"}


def _mount_types(pid: int) -> dict[str, str]:
    table = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        table[pre.split()[4]] = post.split()[0]
    return table


def _default_fs_check(path: str, fstype: str) -> None:
    def body(ctx: Context) -> None:
        _, pid = running_container(ctx)
        got = _mount_types(pid).get(path)
        require(got == fstype, f"{path} is {got!r} in the container, not {fstype}")

    check(id=f"rtlinux.default-fs.{path.strip('/').replace('/', '-')}",
          spec="config-linux.md#default-filesystems", level="SHOULD",
          text=f"The following filesystems SHOULD be made available in each container's "
               f"filesystem: {path} ({fstype}).")(body)


for _path, _type in DEFAULT_FS.items():
    _default_fs_check(_path, _type)


# ---------------------------------------------------------------- default devices

DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                   "urandom": (1, 9), "tty": (5, 0)}


def _default_device_check(name: str, major: int, minor: int) -> None:
    def body(ctx: Context) -> None:
        out = ctx.output(ctx.bundle(), f"stat -c '%F %t %T' /dev/{name}").split()
        want = ["character", "special", "file", f"{major:x}", f"{minor:x}"]
        require(out == want, f"/dev/{name}: {' '.join(out)!r}, expected char {major}:{minor}")

    check(id=f"rtlinux.default-dev.{name}", spec="config-linux.md#default-devices",
          level="MUST",
          text=f"In addition to any devices configured with this setting, the runtime MUST "
               f"also supply: /dev/{name} (char {major}:{minor}).")(body)


for _name, (_major, _minor) in DEFAULT_DEVICES.items():
    _default_device_check(_name, _major, _minor)


@check(id="rtlinux.default-dev.ptmx", spec="config-linux.md#default-devices", level="MUST",
       text="the runtime MUST also supply: /dev/ptmx. A bind-mount or symlink of the "
            "container's /dev/pts/ptmx.")
def default_dev_ptmx(ctx: Context) -> None:
    out = ctx.output(ctx.bundle(), "readlink /dev/ptmx; stat -L -c '%d %i' /dev/ptmx "
                     "/dev/pts/ptmx").split("\n")
    link = out[0].strip()
    if link:
        require(link in ("pts/ptmx", "/dev/pts/ptmx"), f"/dev/ptmx -> {link!r}")
        return
    require(len(out) >= 3 and out[1] == out[2], f"/dev/ptmx is not /dev/pts/ptmx: {out}")


@check(id="rtlinux.default-dev.usable", spec="config-linux.md#default-devices", level="MUST",
       text="the runtime MUST also supply: /dev/null, /dev/zero ... (they work: writes to "
            "/dev/null vanish, /dev/zero reads zeros, /dev/full refuses writes).")
def default_dev_usable(ctx: Context) -> None:
    bundle = ctx.bundle()
    out = ctx.output(bundle, "echo x > /dev/null && head -c 4 /dev/zero | od -An -tx1; "
                     "if echo x > /dev/full 2>/dev/null; then echo full-ok; "
                     "else echo full-refused; fi")
    require("00 00 00 00" in out and "full-refused" in out, f"device behaviour: {out!r}")
