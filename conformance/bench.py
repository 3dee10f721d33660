"""Compare the CLI latency of OCI runtimes (pyoci against runc, crun, ...).

Usage::

    .venv/bin/python conformance/bench.py --runtime runc=/usr/sbin/runc \\
        --runtime pyoci=.venv/bin/pyoci [--bundle bundles/busybox] [--rounds 20] \\
        [--batch-rounds 3] [--json out.json] [--oci-version 1.0.2] \\
        [--only startup,run,lifecycle,exec,state,kill,delete,seq100,par20,rss,memory]

What it measures, for every runtime on the same bundle (``/bin/true``):

* ``startup``: the runtime's process doing nothing: for a Python script its
  interpreter, with the shebang's flags, running ``pass``; for a binary
  ``--version``. The floor under every command a runtime can reach.
* ``run``; ``lifecycle`` (create, start, poll ``state`` until stopped,
  delete), with each of its four steps also reported on its own
  (``lifecycle.create`` ...); ``exec /bin/true`` into a running container;
  ``state``, ``kill`` and ``delete`` alone: medians of ``--rounds``
  interleaved rounds.
* ``seq100``: 100 ``run`` in sequence, total; ``par20``: 20 lifecycles at
  once (one child subreaper process each), total: ``--batch-rounds`` rounds.
* ``rss``: the peak RSS of the ``create`` and ``exec`` processes (their
  rusage) and of the container's init before ``start`` (VmHWM).
* ``memory``: the smallest ``linux.resources.memory.limit`` under which
  ``run /bin/true`` succeeds twice in a row, by bisection to 64 KiB.

Why it is built this way:

* Rounds are interleaved (A B A B ...) and every non-first runtime is reported
  as the median of *per-round* ratios against the first one, so drift of the
  machine (page cache, CPU frequency, other jobs) hits both runtimes alike.
* Each runtime gets a private bundle (the source config with an absolute
  root.path, args ``/bin/true`` and no terminal) and a private ``--root``, so
  the runtimes never see each other's state.
* ``create`` leaves the container's init process behind; it is reparented to
  us, so this process is a child subreaper and reaps zombies, exactly like
  conmon or containerd-shim. Without that, ``state`` of an exited container
  would see a zombie and "stopped" could be reported late or never.
* Whatever happens (errors, Ctrl-C, SIGTERM), every container created is
  removed with ``delete --force`` and the temp directories are removed.

Standard library plus ``pyoci.syscalls`` only, so it runs before pyoci is
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pyoci.syscalls import set_child_subreaper  # noqa: E402

_stop_signal = 0  # set by _terminate; checked between operations

OPERATIONS = ("startup", "run", "lifecycle", "exec", "state", "kill", "delete")
BATCHES = ("seq100", "par20")
EXTRAS = ("rss", "memory")
CALL_TIMEOUT = 60.0  # seconds for one runtime invocation
MEMORY_STEP = 64 << 10  # bisection resolution of the memory limit
MEMORY_HIGH = 64 << 20  # a limit every runtime must manage
STOP_TIMEOUT = 10.0  # seconds to wait for a container to reach "stopped"


class BenchError(Exception):
    """A runtime invocation failed; the message says which and why."""


@dataclass
class Runtime:
    """One runtime under test, with its private state root and bundle."""

    name: str
    path: str
    workdir: Path
    version: str = ""
    live: set[str] = field(default_factory=set)  # ids that may still exist
    config: dict = field(default_factory=dict)  # the private bundle's config.json

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @property
    def bundle(self) -> Path:
        return self.workdir / "bundle"

    @property
    def errlog(self) -> Path:
        return self.workdir / f"stderr.{os.getpid()}.log"  # par20 workers write their own

    @property
    def sleeper(self) -> Path:
        """The same bundle with a process that stays up, for ``exec``."""
        return self.workdir / "sleeper"

    @property
    def limited(self) -> Path:
        """The same bundle with a memory limit, rewritten per probe."""
        return self.workdir / "limited"


def reap() -> None:
    """Collect every exited child (container inits reparented to us)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def call(rt: Runtime, *args: str, stdout: int | None = subprocess.DEVNULL,
         prefix: tuple[str, ...] = ()) -> str:
    """Run ``RT --root ROOT args...``; raise BenchError on failure.

    stderr goes to a file, never a pipe: ``create``/``run`` hand their stdio to
    the container, which would keep a pipe open and block us. The output file
    (``stdout=PIPE``) is a temp file for the same reason.
    """
    argv = [*prefix, rt.path, "--root", str(rt.root), *args]
    return spawn(rt, argv, " ".join(args), stdout)


def spawn(rt: Runtime, argv: list[str], what: str,
          stdout: int | None = subprocess.DEVNULL) -> str:
    """Run ``argv`` as :func:`call` does (``what`` names it in errors)."""
    with open(rt.errlog, "w+b") as err, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=err,
                                stdout=out if stdout == subprocess.PIPE else stdout)
        status, _ = _wait(proc.pid, f"{rt.name}: {what}")
        proc.returncode = status  # Popen must not wait for it again
        if status != 0:
            err.seek(0)
            msg = err.read().decode(errors="replace").strip()
            raise BenchError(f"{rt.name}: {what}: exit {status}: {msg}")
        out.seek(0)
        text = out.read().decode()
    reap()
    return text


def call_rusage(rt: Runtime, *args: str) -> int:
    """:func:`call` under ``/usr/bin/time``: the process's peak RSS in KiB.

    Not our own wait4: a child's ru_maxrss keeps the high-water mark of the
    memory it was forked with, across exec, so every child of this (larger)
    process would show our size. /usr/bin/time is smaller than any runtime.
    """
    report_file = rt.workdir / f"maxrss.{os.getpid()}"
    call(rt, *args, prefix=("/usr/bin/time", "-f", "%M", "-o", str(report_file)))
    return int(report_file.read_text(encoding="ascii").split()[-1])


def _wait(pid: int, what: str) -> tuple[int, object]:
    """wait4 with CALL_TIMEOUT: (exit code or -signal, rusage); kills on timeout."""
    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, CALL_TIMEOUT)
    try:
        _, status, usage = os.wait4(pid, 0)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        os.wait4(pid, 0)
        raise BenchError(f"{what}: timed out") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return os.waitstatus_to_exitcode(status), usage


def status(rt: Runtime, cid: str) -> str:
    """The container's status as reported by the runtime's ``state``."""
    return json.loads(call(rt, "state", cid, stdout=subprocess.PIPE))["status"]


def wait_stopped(rt: Runtime, cid: str) -> None:
    """Poll ``state`` until stopped, reaping so a dead init is not a zombie."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while status(rt, cid) != "stopped":
        if time.monotonic() > deadline:
            raise BenchError(f"{rt.name}: {cid} did not stop within {STOP_TIMEOUT}s")
        time.sleep(0.001)
        reap()


def create(rt: Runtime, cid: str) -> None:
    rt.live.add(cid)
    call(rt, "create", "--bundle", str(rt.bundle), cid)


def delete(rt: Runtime, cid: str, *flags: str) -> None:
    call(rt, "delete", *flags, cid)
    rt.live.discard(cid)


def timed(func: Callable[[], object]) -> float:
    """Wall time of ``func()`` in milliseconds."""
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000.0


# Each operation sets up untimed, times exactly the step named, cleans up untimed.
# It returns milliseconds, or {"": total, step: ms, ...} to report its steps too.
def op_startup(rt: Runtime, _cid: str) -> float:
    command = startup_command(rt.path)
    return timed(lambda: spawn(rt, command, "startup"))


def startup_command(path: str) -> list[str]:
    """The runtime's process doing nothing: a Python launcher's interpreter with
    its shebang flags on ``pass``, any other executable's ``--version``."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"#!"):
        interpreter = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
        if interpreter and os.path.basename(interpreter[0]).startswith("python"):
            return [*interpreter, "-c", "pass"]
    return [path, "--version"]


def op_run(rt: Runtime, cid: str) -> float:
    rt.live.add(cid)
    elapsed = timed(lambda: call(rt, "run", "--bundle", str(rt.bundle), cid))
    rt.live.discard(cid)
    return elapsed


def op_lifecycle(rt: Runtime, cid: str) -> dict[str, float]:
    steps = {
        "create": timed(lambda: create(rt, cid)),
        "start": timed(lambda: call(rt, "start", cid)),
        "state": timed(lambda: wait_stopped(rt, cid)),  # every poll until "stopped"
        "delete": timed(lambda: delete(rt, cid)),
    }
    return {"": sum(steps.values()), **steps}


def op_state(rt: Runtime, cid: str) -> float:
    create(rt, cid)
    elapsed = timed(lambda: call(rt, "state", cid, stdout=subprocess.PIPE))
    delete(rt, cid, "--force")
    return elapsed


def op_kill(rt: Runtime, cid: str) -> float:
    create(rt, cid)
    elapsed = timed(lambda: call(rt, "kill", cid, "KILL"))
    wait_stopped(rt, cid)
    delete(rt, cid)
    return elapsed


def op_delete(rt: Runtime, cid: str) -> float:
    create(rt, cid)
    call(rt, "kill", cid, "KILL")
    wait_stopped(rt, cid)
    return timed(lambda: delete(rt, cid))


def op_exec(rt: Runtime, cid: str) -> float:
    rt.live.add(cid)
    call(rt, "create", "--bundle", str(rt.sleeper), cid)
    call(rt, "start", cid)
    elapsed = timed(lambda: call(rt, "exec", cid, "/bin/true"))
    delete(rt, cid, "--force")
    return elapsed


OPS: dict[str, Callable[[Runtime, str], float | dict[str, float]]] = {
    "startup": op_startup,
    "run": op_run,
    "lifecycle": op_lifecycle,
    "exec": op_exec,
    "state": op_state,
    "kill": op_kill,
    "delete": op_delete,
}


# --- batches: many containers, one total -------------------------------------

def batch_seq100(rt: Runtime, tag: str) -> float:
    """100 ``run /bin/true`` one after the other."""
    return timed(lambda: [op_run(rt, f"{tag}-{i}") for i in range(100)])


def batch_par20(rt: Runtime, tag: str) -> float:
    """20 lifecycles at once, one forked worker each.

    Every worker is a child subreaper of its own, so the container inits it
    creates are reparented to it and reaped by it: the workers never race for
    each other's children. The total is from the first fork to the last exit.
    """
    start = time.perf_counter()
    workers = [_fork_worker(lambda i=i: op_lifecycle(rt, f"{tag}-{i}")) for i in range(20)]
    failed = [pid for pid in workers if _wait(pid, f"{rt.name}: par20 worker")[0] != 0]
    elapsed = (time.perf_counter() - start) * 1000.0
    if failed:
        cleanup_ids(rt, [f"{tag}-{i}" for i in range(20)])
        raise BenchError(f"{rt.name}: par20: {len(failed)} lifecycle(s) failed (see above)")
    return elapsed


def _fork_worker(body: Callable[[], object]) -> int:
    """Run ``body`` in a forked child subreaper; its exit status says whether it worked."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        set_child_subreaper()
        body()
        code = 0
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
    finally:
        reap()
        os._exit(code)
    return 0


BATCH_OPS: dict[str, Callable[[Runtime, str], float]] = {
    "seq100": batch_seq100,
    "par20": batch_par20,
}


def cleanup_ids(rt: Runtime, ids: list[str]) -> None:
    """delete --force each id; never raises (most will not exist)."""
    for cid in ids:
        with contextlib.suppress(BenchError, OSError):
            call(rt, "delete", "--force", cid)


# --- memory: peak RSS and the smallest memory limit ---------------------------

def peak_rss(rt: Runtime, tag: str) -> dict[str, int]:
    """Peak RSS in KiB of ``create``, of the init waiting for ``start``, of ``exec``."""
    cid = f"{tag}-rss"
    rt.live.add(cid)
    create_kib = call_rusage(rt, "create", "--bundle", str(rt.sleeper), cid)
    init_pid = json.loads(call(rt, "state", cid, stdout=subprocess.PIPE))["pid"]
    init_kib = _vm_hwm(init_pid)
    call(rt, "start", cid)
    exec_kib = call_rusage(rt, "exec", cid, "/bin/true")
    delete(rt, cid, "--force")
    return {"create": create_kib, "init_before_start": init_kib, "exec": exec_kib}


def _vm_hwm(pid: int) -> int:
    """VmHWM of a live process, in KiB (0 if it has none to show)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def smallest_memory_limit(rt: Runtime, tag: str, source: dict) -> int:
    """Bisect linux.resources.memory.limit: the least that runs /bin/true (twice)."""
    low, high = 0, MEMORY_HIGH  # low fails (nothing runs in 0 bytes), high works
    if not _runs_under(rt, f"{tag}-mem-top", source, high):
        raise BenchError(f"{rt.name}: run fails even under a {high >> 20} MiB memory limit")
    while high - low > MEMORY_STEP:
        mid = (low + high) // 2 // MEMORY_STEP * MEMORY_STEP
        if _runs_under(rt, f"{tag}-mem-{mid >> 10}", source, mid):
            high = mid
        else:
            low = mid
    return high


def _runs_under(rt: Runtime, cid: str, source: dict, limit: int) -> bool:
    config = json.loads(json.dumps(source))
    resources = config.setdefault("linux", {}).setdefault("resources", {})
    resources["memory"] = {"limit": limit}
    (rt.limited / "config.json").write_text(json.dumps(config), encoding="utf-8")
    for attempt in range(2):
        run_id = f"{cid}-{attempt}"
        rt.live.add(run_id)
        try:
            call(rt, "run", "--bundle", str(rt.limited), run_id)
        except BenchError:
            cleanup_ids(rt, [run_id])
            return False
        finally:
            rt.live.discard(run_id)
    return True


def ensure_rootfs(bundle: Path, config: dict) -> Path:
    """Return the absolute rootfs, building the demo one if it is missing."""
    rootfs = Path(config["root"]["path"])
    if not rootfs.is_absolute():
        rootfs = bundle / rootfs
    script = bundle / "build-rootfs.sh"
    if not (rootfs / "bin").is_dir() and script.is_file():
        subprocess.run(["bash", str(script), str(rootfs)], check=True)
    if not rootfs.is_dir():
        raise BenchError(f"rootfs {rootfs} does not exist")
    return rootfs.resolve()


def prepare(rt: Runtime, source_bundle: Path, oci_version: str | None = None) -> None:
    """Write the runtime's private bundles and create its state root.

    ``oci_version`` overrides ociVersion for all runtimes alike (crun 1.8
    refuses versions it does not know, such as 1.3.0).
    """
    config = json.loads((source_bundle / "config.json").read_text(encoding="utf-8"))
    config["root"]["path"] = str(ensure_rootfs(source_bundle, config))
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    if oci_version:
        config["ociVersion"] = oci_version
    rt.config = config
    rt.root.mkdir(mode=0o700, parents=True)
    sleeper = json.loads(json.dumps(config))
    sleeper["process"]["args"] = ["sleep", "1000000"]
    for bundle, doc in ((rt.bundle, config), (rt.sleeper, sleeper), (rt.limited, config)):
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(doc, indent="\t"), encoding="utf-8")
    rt.version = runtime_version(rt.path)


def runtime_version(path: str) -> str:
    """``RT --version`` output, or the error, for the record."""
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, timeout=30, check=False)
    except OSError as err:
        raise BenchError(f"{path}: {err.strerror}") from None
    return (proc.stdout or proc.stderr).decode(errors="replace").strip()


def cleanup(runtimes: list[Runtime]) -> None:
    """Force-delete leftovers and remove temp dirs; never raises."""
    for rt in runtimes:
        for cid in sorted(rt.live):
            with contextlib.suppress(BenchError, OSError):
                call(rt, "delete", "--force", cid)
        rt.live.clear()
        reap()
        shutil.rmtree(rt.workdir, ignore_errors=True)


@contextlib.contextmanager
def runtimes_prepared(specs: list[tuple[str, str]], bundle: Path,
                      oci_version: str | None = None) -> Iterator[list[Runtime]]:
    """Give each runtime a temp workdir; clean everything up on any exit."""
    runtimes: list[Runtime] = []
    try:
        for name, path in specs:
            workdir = Path(tempfile.mkdtemp(prefix=f"pyoci-bench-{name}-"))
            runtimes.append(Runtime(name, path, workdir))
            prepare(runtimes[-1], bundle, oci_version)
        yield runtimes
    finally:
        cleanup(runtimes)


def measure(
    runtimes: list[Runtime], ops: list[str], rounds: int, warmup: int,
    table: dict[str, Callable[[Runtime, str], float | dict[str, float]]] = OPS,
) -> dict[str, dict[str, list[float]]]:
    """Interleaved rounds: samples[op][runtime] in milliseconds; an operation's
    steps as samples["op.step"], right after the operation's own."""
    samples: dict[str, dict[str, list[float]]] = {}
    if not ops:
        return samples
    tag = f"b{os.getpid()}"
    for i in range(-warmup, rounds):
        for op in ops:
            for rt in runtimes:
                if _stop_signal:
                    raise SystemExit(128 + _stop_signal)
                result = table[op](rt, f"{tag}-{op}-{i + warmup}")
                if i < 0:
                    continue
                parts = result if isinstance(result, dict) else {"": result}
                for step, elapsed in parts.items():
                    key = f"{op}.{step}" if step else op
                    by_rt = samples.setdefault(key, {r.name: [] for r in runtimes})
                    by_rt[rt.name].append(elapsed)
        if i >= 0:
            print(f"\r{'/'.join(ops)}: round {i + 1}/{rounds}", end="", file=sys.stderr,
                  flush=True)
    print(file=sys.stderr)
    return samples


def measure_memory(runtimes: list[Runtime], extras: list[str]) -> dict[str, dict]:
    """Peak RSS (median of 3) and the smallest memory limit, per runtime."""
    out: dict[str, dict] = {"peak_rss_kib": {}, "min_memory_limit_bytes": {}}
    tag = f"b{os.getpid()}"
    for rt in runtimes:
        if "rss" in extras:
            runs = [peak_rss(rt, f"{tag}-{i}") for i in range(3)]
            out["peak_rss_kib"][rt.name] = {
                key: int(statistics.median(r[key] for r in runs)) for key in runs[0]}
        if "memory" in extras:
            print(f"{rt.name}: bisecting the memory limit", file=sys.stderr)
            out["min_memory_limit_bytes"][rt.name] = smallest_memory_limit(rt, tag, rt.config)
    return out


def summarise(samples: dict[str, dict[str, list[float]]], names: list[str]) -> dict:
    """Medians per runtime and medians of per-round ratios against names[0]."""
    medians: dict[str, dict[str, float]] = {}
    ratios: dict[str, dict[str, float]] = {}
    for op, by_rt in samples.items():
        medians[op] = {n: statistics.median(by_rt[n]) for n in names}
        base = by_rt[names[0]]
        ratios[op] = {
            n: statistics.median(x / b for x, b in zip(by_rt[n], base, strict=True))
            for n in names[1:]
        }
    return {"medians_ms": medians, "ratios_vs_first": ratios}


def format_table(summary: dict, names: list[str]) -> str:
    """A plain-text table: one row per operation."""
    first = names[0]
    head = ["operation", *(f"{n} ms" for n in names), *(f"{n}/{first}" for n in names[1:])]
    rows = [head]
    for op, meds in summary["medians_ms"].items():
        ratio = summary["ratios_vs_first"][op]
        rows.append(
            [op, *(f"{meds[n]:.1f}" for n in names), *(f"{ratio[n]:.2f}" for n in names[1:])]
        )
    return _columns(rows)


def format_memory(memory: dict, names: list[str]) -> str:
    """Peak RSS per process and the smallest memory limit, one row each."""
    rows = [["memory", *names]]
    rss = memory.get("peak_rss_kib") or {}
    for key in ("create", "init_before_start", "exec"):
        if rss:
            rows.append([f"peak RSS {key} KiB", *(str(rss[n][key]) for n in names)])
    limits = memory.get("min_memory_limit_bytes") or {}
    if limits:
        rows.append(["min memory.limit KiB", *(str(limits[n] >> 10) for n in names)])
    return _columns(rows) if len(rows) > 1 else ""


def _columns(rows: list[list[str]]) -> str:
    head = rows[0]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    return "\n".join(lines)


def parse_runtime(text: str) -> tuple[str, str]:
    """``NAME=PATH`` -> (name, absolute path); a bare path is named by basename."""
    name, sep, path = text.partition("=")
    if not sep:
        name, path = os.path.basename(text), text
    resolved = shutil.which(path) or path
    if not name or not os.access(resolved, os.X_OK):
        raise argparse.ArgumentTypeError(f"not an executable runtime: {text!r}")
    return name, os.path.abspath(resolved)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runtime",
        action="append",
        type=parse_runtime,
        required=True,
        metavar="NAME=PATH",
        help="runtime to test; the first is the baseline",
    )
    parser.add_argument("--bundle", type=Path, default=REPO / "bundles" / "busybox")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch-rounds", type=int, default=3,
                        help="rounds of seq100 and par20 (each is 100 or 20 containers)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--oci-version", help="ociVersion for every runtime's bundle")
    every = (*OPERATIONS, *BATCHES, *EXTRAS)
    parser.add_argument(
        "--only",
        default=",".join(every),
        help=f"comma-separated subset of {','.join(every)}",
    )
    args = parser.parse_args(argv)
    chosen = [op.strip() for op in args.only.split(",") if op.strip()]
    unknown = sorted(set(chosen) - set(every))
    if unknown:
        parser.error(f"unknown operation(s): {', '.join(unknown)}")
    args.ops = [op for op in chosen if op in OPERATIONS]
    args.batches = [op for op in chosen if op in BATCHES]
    args.extras = [op for op in chosen if op in EXTRAS]
    names = [name for name, _ in args.runtime]
    if len(set(names)) != len(names):
        parser.error("runtime names must be unique")
    if args.rounds < 1 or args.batch_rounds < 1:
        parser.error("--rounds and --batch-rounds must be at least 1")
    return args


def _terminate(signum: int, _frame: object) -> None:
    """Remember SIGTERM/SIGHUP/SIGINT; measure() stops between operations.

    Raising here instead would abort a runtime call half-way (subprocess kills
    its child on an exception), leaving e.g. a cgroup that no later
    ``delete --force`` can find.
    """
    global _stop_signal
    _stop_signal = signum


def report(args: argparse.Namespace, runtimes: list[Runtime], samples: dict,
           batches: dict, memory: dict) -> dict:
    """The JSON record: what was compared, where, when, and the figures."""
    names = [rt.name for rt in runtimes]
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "kernel": os.uname().release,
        "rounds": args.rounds,
        "batch_rounds": args.batch_rounds,
        "baseline": names[0],
        "runtimes": {rt.name: {"path": rt.path, "version": rt.version} for rt in runtimes},
        **summarise(samples, names),
        "batches": summarise(batches, names),
        **memory,
        "samples_ms": samples,
        "batch_samples_ms": batches,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_child_subreaper()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        with runtimes_prepared(args.runtime, args.bundle.resolve(),
                               args.oci_version) as runtimes:
            samples = measure(runtimes, args.ops, args.rounds, args.warmup)
            batches = measure(runtimes, args.batches, args.batch_rounds, 0, BATCH_OPS)
            memory = measure_memory(runtimes, args.extras)
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    record = report(args, runtimes, samples, batches, memory)
    names = [rt.name for rt in runtimes]
    print(format_table(record, names))
    if args.batches:
        print()
        print(format_table({**record["batches"]}, names))
    text = format_memory(memory, names)
    if text:
        print()
        print(text)
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
