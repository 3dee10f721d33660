"""Compare the CLI latency of OCI runtimes (pyoci against runc, crun, ...).

Usage::

    .venv/bin/python conformance/bench.py --runtime pyoci=.venv/bin/pyoci \\
        --runtime runc=/usr/sbin/runc [--bundle bundles/busybox] [--rounds 20] \\
        [--json out.json] [--only run,lifecycle,state,kill,delete]

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

OPERATIONS = ("run", "lifecycle", "state", "kill", "delete")
CALL_TIMEOUT = 60.0  # seconds for one runtime invocation
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

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @property
    def bundle(self) -> Path:
        return self.workdir / "bundle"

    @property
    def errlog(self) -> Path:
        return self.workdir / "stderr.log"


def reap() -> None:
    """Collect every exited child (container inits reparented to us)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def call(rt: Runtime, *args: str, stdout: int | None = subprocess.DEVNULL) -> str:
    """Run ``RT --root ROOT args...``; raise BenchError on failure.

    stderr goes to a file, never a pipe: ``create``/``run`` hand their stdio to
    the container, which would keep a pipe open and block us.
    """
    argv = [rt.path, "--root", str(rt.root), *args]
    with open(rt.errlog, "w+b") as err:
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=err,
                timeout=CALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"{rt.name}: {' '.join(args)}: timed out") from None
        if proc.returncode != 0:
            err.seek(0)
            msg = err.read().decode(errors="replace").strip()
            raise BenchError(f"{rt.name}: {' '.join(args)}: exit {proc.returncode}: {msg}")
    reap()
    return proc.stdout.decode() if stdout == subprocess.PIPE else ""


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
def op_run(rt: Runtime, cid: str) -> float:
    rt.live.add(cid)
    elapsed = timed(lambda: call(rt, "run", "--bundle", str(rt.bundle), cid))
    rt.live.discard(cid)
    return elapsed


def op_lifecycle(rt: Runtime, cid: str) -> float:
    def lifecycle() -> None:
        create(rt, cid)
        call(rt, "start", cid)
        wait_stopped(rt, cid)
        delete(rt, cid)

    return timed(lifecycle)


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


OPS: dict[str, Callable[[Runtime, str], float]] = {
    "run": op_run,
    "lifecycle": op_lifecycle,
    "state": op_state,
    "kill": op_kill,
    "delete": op_delete,
}


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


def prepare(rt: Runtime, source_bundle: Path) -> None:
    """Write the runtime's private bundle and create its state root."""
    config = json.loads((source_bundle / "config.json").read_text(encoding="utf-8"))
    config["root"]["path"] = str(ensure_rootfs(source_bundle, config))
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    rt.root.mkdir(mode=0o700, parents=True)
    rt.bundle.mkdir()
    (rt.bundle / "config.json").write_text(json.dumps(config, indent="\t"), encoding="utf-8")
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
def runtimes_prepared(specs: list[tuple[str, str]], bundle: Path) -> Iterator[list[Runtime]]:
    """Give each runtime a temp workdir; clean everything up on any exit."""
    runtimes: list[Runtime] = []
    try:
        for name, path in specs:
            workdir = Path(tempfile.mkdtemp(prefix=f"pyoci-bench-{name}-"))
            runtimes.append(Runtime(name, path, workdir))
            prepare(runtimes[-1], bundle)
        yield runtimes
    finally:
        cleanup(runtimes)


def measure(
    runtimes: list[Runtime], ops: list[str], rounds: int, warmup: int
) -> dict[str, dict[str, list[float]]]:
    """Interleaved rounds: samples[op][runtime] in milliseconds."""
    samples = {op: {rt.name: [] for rt in runtimes} for op in ops}
    tag = f"b{os.getpid()}"
    for i in range(-warmup, rounds):
        for op in ops:
            for rt in runtimes:
                if _stop_signal:
                    raise SystemExit(128 + _stop_signal)
                elapsed = OPS[op](rt, f"{tag}-{op}-{i + warmup}")
                if i >= 0:
                    samples[op][rt.name].append(elapsed)
        if i >= 0:
            print(f"\rround {i + 1}/{rounds}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return samples


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
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--only",
        default=",".join(OPERATIONS),
        help=f"comma-separated subset of {','.join(OPERATIONS)}",
    )
    args = parser.parse_args(argv)
    args.ops = [op.strip() for op in args.only.split(",") if op.strip()]
    unknown = sorted(set(args.ops) - set(OPERATIONS))
    if unknown:
        parser.error(f"unknown operation(s): {', '.join(unknown)}")
    names = [name for name, _ in args.runtime]
    if len(set(names)) != len(names):
        parser.error("runtime names must be unique")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def _terminate(signum: int, _frame: object) -> None:
    """Remember SIGTERM/SIGHUP/SIGINT; measure() stops between operations.

    Raising here instead would abort a runtime call half-way (subprocess kills
    its child on an exception), leaving e.g. a cgroup that no later
    ``delete --force`` can find.
    """
    global _stop_signal
    _stop_signal = signum


def report(args: argparse.Namespace, runtimes: list[Runtime], samples: dict) -> dict:
    """The JSON record: what was compared, where, when, and the figures."""
    names = [rt.name for rt in runtimes]
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "kernel": os.uname().release,
        "rounds": args.rounds,
        "baseline": names[0],
        "runtimes": {rt.name: {"path": rt.path, "version": rt.version} for rt in runtimes},
        **summarise(samples, names),
        "samples_ms": samples,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_child_subreaper()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        with runtimes_prepared(args.runtime, args.bundle.resolve()) as runtimes:
            samples = measure(runtimes, args.ops, args.rounds, args.warmup)
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    record = report(args, runtimes, samples)
    print(format_table(record, [rt.name for rt in runtimes]))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
