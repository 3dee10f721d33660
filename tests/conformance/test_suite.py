"""CI gate for the spec-derived conformance suite (conformance/).

* pyoci must pass every check except those listed, with their reasons, in
  conformance/expected-failures.txt; a listed check that passes fails too, so the
  list shrinks as gaps close.
* Debian's runc, when installed, runs in the same command; its table is shown in
  the pytest summary and never gates (a check runc fails is looked at: a runc bug,
  a host limit, or a wrong check).
* Each check must be able to fail: broken stand-ins for pyoci (wrappers that drop
  one behaviour) must fail exactly the checks that observe that behaviour.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYOCI = REPO / ".venv" / "bin" / "pyoci"
RUNC = Path("/usr/sbin/runc")
EXPECTED = REPO / "conformance" / "expected-failures.txt"
SUITE_TIMEOUT = 1800

pytestmark = [pytest.mark.root, pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (creates real containers)")]


class _Tables:
    """Prints the conformance tables in the pytest summary, so CI logs carry them
    without -s. Registered as a plugin by the fixture; no conftest.py here, because
    a second conftest module would shadow the bare ``conftest`` that tests import."""

    def __init__(self) -> None:
        self.tables: list[tuple[str, str]] = []

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for title, text in self.tables:
            terminalreporter.section(title)
            terminalreporter.write_line(text)


def run_suite(out: Path, *args: str) -> tuple[dict, str]:
    """``python -m conformance ARGS --json out``; the JSON record and the printed text."""
    log = out.with_suffix(".log")
    with open(log, "wb") as f:
        subprocess.run([sys.executable, "-m", "conformance", *args, "--json", str(out)],
                       cwd=REPO, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                       timeout=SUITE_TIMEOUT, check=False)
    text = log.read_text(errors="replace")
    assert out.exists(), f"the suite wrote no JSON:\n{text[-3000:]}"
    return json.loads(out.read_text()), text


def expected_failures() -> dict[str, str]:
    """check id -> reason, from conformance/expected-failures.txt."""
    entries = {}
    for line in EXPECTED.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            cid, _, reason = line.strip().partition(" ")
            assert reason.strip(), f"{cid}: an expected failure needs its reason"
            entries[cid] = reason.strip()
    return entries


def outcomes(record: dict, runtime: str) -> dict[str, dict]:
    (entry,) = [r for r in record["runtimes"] if r["name"] == runtime]
    return {r["id"]: r for r in entry["results"]}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory,
          pytestconfig: pytest.Config) -> tuple[dict, str]:
    """One run of every check: pyoci, and runc beside it when installed."""
    runtimes = ["--runtime", f"pyoci={PYOCI}"]
    if RUNC.exists():
        runtimes += ["--runtime", f"runc={RUNC}"]
    record, text = run_suite(tmp_path_factory.mktemp("conformance") / "all.json", *runtimes)
    summaries = [line for line in text.splitlines() if line.startswith("SUMMARY ")]
    table = text[text.find("check "):] if RUNC.exists() and "check " in text else ""
    tables = _Tables()
    tables.tables.append(("conformance (informational for runc)",
                          "\n".join(summaries + [table])))
    pytestconfig.pluginmanager.register(tables, "pyoci-conformance-tables")
    return record, text


def test_pyoci_fails_only_expected_checks(suite: tuple[dict, str]) -> None:
    record, text = suite
    results = outcomes(record, "pyoci")
    assert len(results) >= 100, f"only {len(results)} checks ran:\n{text[-2000:]}"
    failed = {cid: r["detail"] for cid, r in results.items() if r["status"] == "fail"}
    expected = expected_failures()
    unexpected = {cid: d for cid, d in failed.items() if cid not in expected}
    assert not unexpected, "checks pyoci fails:\n" + "\n".join(
        f"  {cid}: {detail}" for cid, detail in unexpected.items())
    fixed = [cid for cid in expected if results.get(cid, {}).get("status") == "pass"]
    assert not fixed, f"expected failures that pass now (remove them): {fixed}"
    unknown = [cid for cid in expected if cid not in results]
    assert not unknown, f"expected-failures.txt names checks that do not exist: {unknown}"


def test_summary_lines(suite: tuple[dict, str]) -> None:
    """Each runtime's block closes with exactly one SUMMARY line matching its results."""
    record, text = suite
    for entry in record["runtimes"]:
        s = entry["summary"]
        line = f"SUMMARY runtime={entry['name']} pass={s['pass']} fail={s['fail']} skip={s['skip']}"
        assert text.count(line) == 1, line


@pytest.mark.skipif(not RUNC.exists(), reason="runc is not installed")
def test_runc_table_is_shown(suite: tuple[dict, str]) -> None:
    """Never gating on runc: only that it ran every check and the table exists."""
    record, text = suite
    assert len(outcomes(record, "runc")) == len(outcomes(record, "pyoci"))
    assert "# differences:" in text


# ---------------------------------------------------------------- broken stand-ins

WRAPPER = '''#!{python} -I
"""pyoci with one behaviour broken on purpose: {mode}."""
import json, os, sys
args = sys.argv[1:]
mode = {mode!r}
cmd = next((a for a in args if a in ("create", "run", "start", "state", "kill", "delete")), "")
def bundle_config():
    i = args.index("--bundle") + 1 if "--bundle" in args else None
    return os.path.join(args[i] if i else ".", "config.json")
def edit(fn):
    path = bundle_config()
    with open(path) as f:
        config = json.load(f)
    fn(config)
    with open(path, "w") as f:
        json.dump(config, f)
if mode == "no-hostname" and cmd in ("create", "run"):
    edit(lambda c: c.pop("hostname", None))
if mode == "no-hooks" and cmd in ("create", "run"):
    edit(lambda c: c.pop("hooks", None))
if mode == "drop-preserve-fds" and "--preserve-fds" in args:
    i = args.index("--preserve-fds")
    del args[i:i + 2]
if mode == "kill-always-kill" and cmd == "kill" and len(args) >= 2 and args[-1] != args[-2]:
    args[-1] = "KILL"
if mode == "delete-noop" and cmd == "delete" and "--force" not in args:
    sys.exit(0)
if mode == "status-lies" and cmd == "state":
    import subprocess
    out = subprocess.run([{pyoci!r}, *args], capture_output=True)
    doc = out.stdout.decode().replace('"running"', '"created"')
    sys.stdout.write(doc); sys.stderr.write(out.stderr.decode()); sys.exit(out.returncode)
os.execv({pyoci!r}, [{pyoci!r}, *args])
'''

# mode -> checks that must fail against it (and pass against pyoci)
BROKEN = {
    "no-hostname": ["runtime.create.applies-hostname", "runtime.lifecycle.config-edits-ignored"],
    "no-hooks": ["hooks.createRuntime.when", "hooks.startContainer.namespace",
                 "hooks.poststop.stdin-state", "features.hooks-supported"],
    "drop-preserve-fds": ["rtlinux.fds.preserve"],
    "kill-always-kill": ["runtime.kill.signal", "runtime.kill.signal-number"],
    "delete-noop": ["runtime.delete.removes", "runtime.state.deleted",
                    "runtime.delete.id-reusable"],
    "status-lies": ["runtime.state.status.running", "runtime.state.pid.running"],
}


def test_broken_standins_fail_their_checks(tmp_path: Path) -> None:
    """Each stand-in runs only the checks aimed at its breakage; pyoci runs them all."""
    python = REPO / ".venv" / "bin" / "python"
    wanted = sorted({cid for ids in BROKEN.values() for cid in ids})
    record, text = run_suite(tmp_path / "pyoci.json", "--runtime", f"pyoci={PYOCI}",
                             "--only", ",".join(wanted))
    good = outcomes(record, "pyoci")
    assert all(good[cid]["status"] == "pass" for cid in wanted), text[-3000:]
    for mode, ids in BROKEN.items():
        wrapper = tmp_path / f"pyoci-{mode}"
        wrapper.write_text(WRAPPER.format(python=python, mode=mode, pyoci=str(PYOCI)))
        wrapper.chmod(0o755)
        record, text = run_suite(tmp_path / f"{mode}.json", "--runtime", f"{mode}={wrapper}",
                                 "--only", ",".join(ids))
        got = outcomes(record, mode)
        assert sorted(got) == sorted(ids), f"{mode}: ran {sorted(got)}"
        passed = [cid for cid in ids if got[cid]["status"] != "fail"]
        assert not passed, f"{mode}: these checks did not notice: {passed}\n{text[-2000:]}"
