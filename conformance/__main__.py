"""Run the spec-derived conformance checks against one or more OCI runtimes.

Usage (as root)::

    .venv/bin/python -m conformance --runtime .venv/bin/pyoci --runtime /usr/sbin/runc \\
        [--only PATTERN[,PATTERN]] [--tap] [--json FILE] [--rootfs DIR] [--spec-dir DIR]

Each runtime gets one line per check and a closing
``SUMMARY runtime=<name> pass=N fail=N skip=N``; with several runtimes a table of
checks x runtimes follows, rows that differ first. ``--runtime NAME=PATH`` names
a runtime explicitly (default: the executable's basename). The exit status is 1
if any check failed for any runtime. See conformance/framework.py for how checks
are written.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from conformance import framework  # noqa: E402
from conformance.framework import Check, Result, Runtime  # noqa: E402

MARK = {"pass": "ok", "fail": "FAIL", "skip": "skip"}


def parse_runtime(text: str) -> Runtime:
    """``NAME=PATH`` or ``PATH`` -> Runtime with an absolute executable path."""
    name, sep, path = text.partition("=")
    if not sep:
        path = text
        name = os.path.basename(text)
    resolved = shutil.which(path) or path
    if not name or not os.access(resolved, os.X_OK) or os.path.isdir(resolved):
        raise argparse.ArgumentTypeError(f"not an executable runtime: {text!r}")
    return Runtime(name, os.path.abspath(resolved))


def selected(checks: list[Check], patterns: str | None) -> list[Check]:
    """Checks whose id or spec matches one of the comma-separated patterns
    (an exact check id; else shell globs; a pattern without wildcards matches as a
    substring)."""
    if not patterns:
        return checks
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    ids = {c.id for c in checks}

    def match(chk: Check) -> bool:
        for pat in pats:
            if pat in ids:  # an exact id selects that check alone
                if chk.id == pat:
                    return True
                continue
            glob = pat if any(c in pat for c in "*?[") else f"*{pat}*"
            if fnmatch.fnmatchcase(chk.id, glob) or fnmatch.fnmatchcase(chk.spec, glob):
                return True
        return False

    return [c for c in checks if match(c)]


def line(result: Result) -> str:
    chk = result.check
    text = f"{MARK[result.status]:4} {chk.id}  [{chk.spec} {chk.level}]"
    return f"{text}  {result.detail}" if result.detail else text


def tap_lines(n: int, result: Result) -> list[str]:
    chk = result.check
    verdict = "not ok" if result.status == "fail" else "ok"
    head = f"{verdict} {n} - {chk.id} [{chk.spec} {chk.level}]"
    if result.status == "skip":
        return [f"{head} # SKIP {result.detail}"]
    if result.status == "fail":
        return [head, "  ---", f"  message: {json.dumps(result.detail)}",
                f"  requirement: {json.dumps(chk.text)}", "  ..."]
    return [head]


def summary(name: str, results: list[Result]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    return (f"SUMMARY runtime={name} pass={counts['pass']} fail={counts['fail']} "
            f"skip={counts['skip']}")


def run_runtime(runtime: Runtime, checks: list[Check], args: argparse.Namespace,
                base: Path) -> list[Result]:
    """Run every check against one runtime, printing as it goes."""
    results: list[Result] = []
    if args.tap:
        print(f"TAP version 13\n# runtime {runtime.name}: {runtime.path}\n1..{len(checks)}")
    else:
        print(f"# runtime {runtime.name}: {runtime.path} ({runtime.version()})")
    for n, chk in enumerate(checks, 1):
        result = framework.run_check(chk, runtime, base, args.rootfs, args.spec_dir,
                                     args.oci_version)
        results.append(result)
        print("\n".join(tap_lines(n, result)) if args.tap else line(result), flush=True)
    print(summary(runtime.name, results), flush=True)
    return results


def table(by_runtime: dict[str, list[Result]]) -> str:
    """Checks x runtimes, rows whose outcomes differ first."""
    names = list(by_runtime)
    rows: dict[str, list[str]] = {}
    for name in names:
        for r in by_runtime[name]:
            rows.setdefault(r.check.id, ["-"] * len(names))[names.index(name)] = MARK[r.status]
    differ = [(cid, v) for cid, v in rows.items() if len(set(v)) > 1]
    same = [(cid, v) for cid, v in rows.items() if len(set(v)) <= 1]
    width = max([len(c) for c in rows] + [5])
    cols = [max(len(n), 4) for n in names]
    out = [f"{'check':{width}}  " + "  ".join(f"{n:{w}}" for n, w in zip(names, cols, strict=True))]
    for title, group in (("differences", differ), ("same for all", same)):
        out.append(f"# {title}: {len(group)}")
        out += [f"{cid:{width}}  " + "  ".join(f"{m:{w}}" for m, w in zip(v, cols, strict=True))
                for cid, v in group]
    return "\n".join(out)


def record(runtimes: list[Runtime], by_runtime: dict[str, list[Result]]) -> dict:
    """The --json document."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "kernel": os.uname().release,
        "runtimes": [{
            "name": rt.name, "path": rt.path, "version": rt.version(),
            "summary": dict(zip(("pass", "fail", "skip"), (
                sum(r.status == s for r in by_runtime[rt.name])
                for s in ("pass", "fail", "skip")), strict=True)),
            "results": [{"id": r.check.id, "spec": r.check.spec, "level": r.check.level,
                         "text": r.check.text, "status": r.status, "detail": r.detail,
                         "seconds": round(r.seconds, 3)} for r in by_runtime[rt.name]],
        } for rt in runtimes],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", action="append", type=parse_runtime, required=True,
                        metavar="[NAME=]PATH", help="runtime to test (repeatable)")
    parser.add_argument("--only", metavar="PATTERN", help="comma-separated id/spec globs")
    parser.add_argument("--tap", action="store_true", help="print TAP instead of lines")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all results here")
    parser.add_argument("--rootfs", type=Path, default=framework.DEFAULT_ROOTFS,
                        help="busybox rootfs (default: bundles/busybox/rootfs, built if absent)")
    parser.add_argument("--spec-dir", type=Path, default=framework.DEFAULT_SPEC_DIR,
                        help="runtime-spec checkout (for schema/)")
    parser.add_argument("--oci-version", default="1.3.0",
                        help="ociVersion of the configs (default 1.3.0; e.g. 1.0.2 for runtimes "
                             "that refuse newer versions, like crun 1.8)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    args = parser.parse_args(argv)
    names = [rt.name for rt in args.runtime]
    if len(set(names)) != len(names):
        parser.error("runtime names must be unique (use NAME=PATH)")
    return args


def ensure_rootfs(rootfs: Path) -> Path:
    """Build the demo busybox rootfs when the default one is missing."""
    script = REPO / "bundles" / "busybox" / "build-rootfs.sh"
    if not (rootfs / "bin" / "busybox").exists() and rootfs == framework.DEFAULT_ROOTFS:
        subprocess.run(["bash", str(script), str(rootfs)], check=True)
    if not (rootfs / "bin" / "sh").exists():
        raise SystemExit(f"conformance: {rootfs} is not a busybox rootfs")
    return rootfs.resolve()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    checks = selected(framework.discover(), args.only)
    if args.list:
        for chk in checks:
            print(f"{chk.id}  [{chk.spec} {chk.level}]  {chk.text}")
        return 0
    if os.geteuid() != 0:
        print("conformance: needs root (it creates real containers)", file=sys.stderr)
        return 2
    args.rootfs = ensure_rootfs(args.rootfs)
    framework.set_child_subreaper()
    base = Path(tempfile.mkdtemp(prefix="pyoci-conformance-"))
    base.chmod(0o755)
    by_runtime: dict[str, list[Result]] = {}
    try:
        for runtime in args.runtime:
            by_runtime[runtime.name] = run_runtime(runtime, checks, args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if len(by_runtime) > 1:
        print(table(by_runtime))
    if args.json:
        args.json.write_text(json.dumps(record(args.runtime, by_runtime), indent=1) + "\n")
    return 1 if any(r.status == "fail" for rs in by_runtime.values() for r in rs) else 0


if __name__ == "__main__":
    sys.exit(main())
