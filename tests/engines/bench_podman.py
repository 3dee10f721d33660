#!/usr/bin/env python3
"""Wall time of ``podman run --rm localhost/busybox true`` with pyoci and with runc.

Not a test: a measurement. One private podman (tests/engines/podman_env.py)
knows both runtimes; the runs alternate (pyoci, runc, pyoci, ...) so that load
from other work on the machine falls on both alike, after one warm-up run each.
The whole podman call is timed: podman, conmon, the runtime's create/start/
delete and podman's clean-up, which is what a user waits for.

Usage (as root): .venv/bin/python tests/engines/bench_podman.py [--rounds 15] [--runc PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Run as a script: podman_env imports the test helpers as ``tests.conftest``.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from podman_env import IMAGE, PYOCI, PodmanEnv, missing_tools  # noqa: E402


def one_run(env: PodmanEnv, runtime: str) -> float:
    """Seconds for one ``podman run --rm ... true``; a failure stops the benchmark."""
    argv = env.argv("run", "--rm", "--network", "none", "--runtime", runtime, IMAGE, "true")
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env.env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench_podman: {runtime}: podman exited {proc.returncode}: "
                         f"{proc.stderr.strip()}")
    return elapsed


def measure(env: PodmanEnv, runtimes: list[str], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runtimes}
    for name in runtimes:
        one_run(env, name)  # warm-up: page cache, image layers, first conmon
    for _ in range(rounds):
        for name in runtimes:
            times[name].append(one_run(env, name))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="runs per runtime (min 10)")
    parser.add_argument("--runc", default="/usr/sbin/runc", help="the runc binary")
    args = parser.parse_args()
    if args.rounds < 10:
        parser.error("--rounds: at least 10")
    reason = missing_tools()
    if reason:
        print(f"bench_podman: {reason}", file=sys.stderr)
        return 1
    env = PodmanEnv({"pyoci": str(PYOCI), "runc": args.runc})
    try:
        env.import_busybox()
        times = measure(env, ["pyoci", "runc"], args.rounds)
    finally:
        env.close()
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:6} median {medians[name] * 1000:7.1f} ms  "
              f"(min {min(t) * 1000:.1f}, max {max(t) * 1000:.1f}, n={len(t)})")
    rounds = zip(times["pyoci"], times["runc"], strict=True)
    per_round = statistics.median(p / r for p, r in rounds)
    print(f"ratio pyoci/runc: {medians['pyoci'] / medians['runc']:.2f} (of medians), "
          f"{per_round:.2f} (median per-round ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
