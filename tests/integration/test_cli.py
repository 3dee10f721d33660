"""The ``pyoci`` command line through the real binary: version, spec, features,
flag spellings, usage errors, ``--log`` and ``--debug``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import (
    PYOCI,
    Bundle,
    Pyoci,
    assert_nothing_left,
    needs_root,
    official_validator,
)

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def raw(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """pyoci without any implied --root."""
    return subprocess.run([*PYOCI, *args], capture_output=True, timeout=60, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def assert_one_line_failure(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert proc.returncode != 0, proc
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1 and err.endswith("\n"), repr(err)
    assert proc.stdout == b""
    return err


def schema_errors(spec_dir: Path, name: str, doc: object) -> list[str]:
    return sorted(f"{list(e.path)}: {e.message}"
                  for e in official_validator(spec_dir, name).iter_errors(doc))


# --- version, spec, features ------------------------------------------------------


@pytest.mark.parametrize("args", [["--version"], ["-v"], ["--root", "/nonexistent", "--version"]])
def test_version(args: list[str]) -> None:
    proc = raw(*args)
    assert proc.returncode == 0
    first = proc.stdout.decode().splitlines()[0]
    assert re.fullmatch(r"pyoci version \S+", first), first
    assert b"1.3.0" in proc.stdout  # the spec version


def test_spec_validates_and_refuses_to_overwrite(tmp_path: Path, spec_dir: Path) -> None:
    proc = raw("spec", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "config.json"
    text = path.read_text()
    config = json.loads(text)
    assert schema_errors(spec_dir, "config-schema.json", config) == []
    assert config["ociVersion"] == "1.3.0"
    assert config["root"]["path"] == "rootfs"
    assert {ns["type"] for ns in config["linux"]["namespaces"]} >= {"pid", "mount"}

    again = raw("spec", cwd=tmp_path)
    err = assert_one_line_failure(again)
    assert "exists" in err
    assert path.read_text() == text


def test_spec_bundle_flag_forms(tmp_path: Path, spec_dir: Path) -> None:
    for i, args in enumerate((["--bundle", "{}"], ["--bundle={}"], ["-b", "{}"], ["-b={}"])):
        target = tmp_path / f"b{i}"
        target.mkdir()
        proc = raw("spec", *[a.format(target) for a in args])
        assert proc.returncode == 0, (args, proc.stderr)
        assert json.loads((target / "config.json").read_text())["ociVersion"] == "1.3.0"
    missing = raw("spec", "--bundle", str(tmp_path / "nope"))
    assert_one_line_failure(missing)


def test_spec_rootless(tmp_path: Path, spec_dir: Path) -> None:
    proc = raw("spec", "--rootless", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "config.json").read_text())
    assert schema_errors(spec_dir, "config-schema.json", config) == []
    types = [ns["type"] for ns in config["linux"]["namespaces"]]
    assert "user" in types
    assert "network" not in types
    assert config["linux"]["uidMappings"] == [
        {"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert config["linux"]["gidMappings"] == [
        {"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in config["linux"] or not config["linux"]["resources"].get("devices")


def test_features_validates(spec_dir: Path) -> None:
    proc = raw("features")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert schema_errors(spec_dir, "features-schema.json", doc) == []
    assert doc["ociVersionMax"] == "1.3.0"
    assert "CAP_SYS_ADMIN" in doc["linux"]["capabilities"]
    assert {"pid", "mount", "user", "time"} <= set(doc["linux"]["namespaces"])


# --- flag spellings ---------------------------------------------------------------


def test_global_flag_forms_are_equivalent(tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "pyoci-x").mkdir(parents=True)  # an unreadable entry is skipped by list
    outputs = {
        tuple(args): raw(*args)
        for args in (["--root", str(root), "list", "--format", "json"],
                     [f"--root={root}", "list", "--format=json"],
                     ["-root", str(root), "list", "-format", "json"],
                     [f"-root={root}", "list", "-f", "json"])}
    for args, proc in outputs.items():
        assert proc.returncode == 0, (args, proc.stderr)
    assert len({p.stdout for p in outputs.values()}) == 1


@pytest.mark.root
@needs_root
def test_create_flag_forms(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    bundle.with_args("true")
    cid = new_id()
    pidfile = tmp_path / "pid"
    log = tmp_path / "log.json"
    with open(tmp_path / "out", "wb") as out:
        proc = subprocess.run(
            [*PYOCI, f"--root={pyoci.root}", f"--log={log}", "--log-format=json",
             "create", f"--bundle={bundle.path}", f"--pid-file={pidfile}",
             "--no-new-keyring", cid], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
            timeout=60)
    assert proc.returncode == 0, (tmp_path / "out").read_text()
    state = pyoci.state(cid)
    assert state["status"] == "created"
    assert pidfile.read_text() == str(state["pid"])
    assert log.exists() and log.read_text() == ""
    pyoci("start", cid)
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


# --- usage errors ----------------------------------------------------------------


@pytest.mark.parametrize("args,needle", [
    (["--nope", "list"], "--nope"),
    (["list", "--bogus"], "--bogus"),
    (["state"], "state"),
    (["delete"], "delete"),
    (["state", "a", "b"], "state"),
    (["frobnicate"], "frobnicate"),
    (["--log-format", "yaml", "list"], "yaml"),
    (["list", "--format", "xml"], "xml"),
    (["create", "--bundle"], "--bundle"),
    (["create", "--preserve-fds", "x", "pyoci-id"], "preserve-fds"),
    (["kill", "pyoci-id", "NOSUCHSIGNAL"], "NOSUCHSIGNAL"),
    (["--debug=maybe", "list"], "maybe"),
])
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = raw("--root", str(tmp_path / "state"), *args)
    err = assert_one_line_failure(proc)
    assert needle in err, err
    assert not (tmp_path / "state" / "pyoci-id").exists()


def test_no_command_prints_usage_and_fails() -> None:
    proc = raw()
    assert proc.returncode != 0
    assert b"usage" in proc.stdout + proc.stderr
    assert b"Traceback" not in proc.stderr


def test_help_succeeds() -> None:
    for args in (["--help"], ["state", "--help"]):
        proc = raw(*args)
        assert proc.returncode == 0, args
        assert b"usage" in proc.stdout


# --- --log and --debug ------------------------------------------------------------


def test_log_json_created_on_success_one_line_per_failure(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    root = tmp_path / "state"
    ok = raw("--root", str(root), "--log", str(log), "--log-format", "json", "list")
    assert ok.returncode == 0
    assert log.exists() and log.read_text() == ""

    log.write_text('{"level":"info","msg":"kept","time":"2024-01-01T00:00:00Z"}\n')
    for n in (1, 2):
        proc = raw(f"--root={root}", f"--log={log}", "--log-format=json", "state", "pyoci-none")
        err = assert_one_line_failure(proc)
        assert "does not exist" in err
        lines = log.read_text().splitlines()
        assert len(lines) == 1 + n
        entry = json.loads(lines[-1])
        assert set(entry) == {"level", "msg", "time"}
        assert entry["level"] == "error"
        assert "does not exist" in entry["msg"] and "pyoci-none" in entry["msg"]
        assert RFC3339.match(entry["time"]), entry["time"]
    assert json.loads(log.read_text().splitlines()[0])["msg"] == "kept"


def test_log_json_records_usage_errors(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    proc = raw("--log", str(log), "--log-format", "json", "state")
    assert_one_line_failure(proc)
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["level"] == "error"


def test_log_text_file_created(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    ok = raw("--root", str(tmp_path / "s"), "--log", str(log), "list")
    assert ok.returncode == 0 and log.exists()
    bad = raw("--root", str(tmp_path / "s"), "--log", str(log), "state", "pyoci-none")
    assert bad.returncode == 1
    assert "does not exist" in log.read_text()


def test_debug_traceback_only_for_internal_errors(tmp_path: Path) -> None:
    user_error = raw("--debug", "--root", str(tmp_path / "state"), "state", "pyoci-none")
    assert user_error.returncode == 1
    assert b"does not exist" in user_error.stderr
    assert b"Traceback" not in user_error.stderr

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    # A root that is a file makes listing fail unexpectedly (an OSError deep inside).
    plain = raw("--root", str(not_a_dir), "list")
    assert_one_line_failure(plain)
    debug = raw("--debug", "--root", str(not_a_dir), "list")
    assert debug.returncode != 0
    assert b"Traceback" in debug.stderr
    assert debug.stderr.splitlines()[-1].startswith(b"pyoci: ")


@pytest.mark.root
@needs_root
def test_log_json_on_create_failure(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    bundle.with_args("pyoci-no-such-binary")
    cid = new_id()
    proc = pyoci("create", "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL, global_args=("--log", str(log), "--log-format", "json"))
    err = assert_one_line_failure(proc)
    assert "pyoci-no-such-binary" in err
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "error" and "pyoci-no-such-binary" in entry["msg"]
    assert RFC3339.match(entry["time"])
    assert_nothing_left(pyoci, cid)
