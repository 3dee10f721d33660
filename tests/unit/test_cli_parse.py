"""The runc-compatible command line: globals, options, signals, argument counts."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import PYOCI

from pyoci import cli
from pyoci.cli import COMMANDS, DEFAULT_ROOT, dispatch, parse_globals, parse_options
from pyoci.container.kill import parse_signal
from pyoci.errors import PyociError, UsageError

RUN = COMMANDS["run"]
CREATE = COMMANDS["create"]


# -- parse_globals -------------------------------------------------------------------

def test_globals_defaults() -> None:
    g, rest = parse_globals(["list"])
    assert (g.root, g.log, g.log_format, g.debug, g.systemd_cgroup, g.rootless) == \
        (DEFAULT_ROOT, None, "text", False, False, "auto")
    assert rest == ["list"]


@pytest.mark.parametrize("argv", [
    ["--root", "/x", "state", "id"],
    ["--root=/x", "state", "id"],
    ["-root", "/x", "state", "id"],
    ["-root=/x", "state", "id"],
])
def test_globals_root_spellings(argv: list[str]) -> None:
    g, rest = parse_globals(argv)
    assert g.root == "/x"
    assert rest == ["state", "id"]


def test_globals_all_flags() -> None:
    g, rest = parse_globals(["--root", "/r", "--log", "/l", "--log-format", "json", "--debug",
                             "--systemd-cgroup", "--rootless", "false", "kill", "id", "9"])
    assert (g.root, g.log, g.log_format, g.debug, g.systemd_cgroup, g.rootless) == \
        ("/r", "/l", "json", True, True, "false")
    assert rest == ["kill", "id", "9"]


def test_globals_stop_at_the_command() -> None:
    """Flags after the command belong to the command, even global-looking ones."""
    g, rest = parse_globals(["--debug", "delete", "--root", "/x", "id"])
    assert g.debug and g.root == DEFAULT_ROOT
    assert rest == ["delete", "--root", "/x", "id"]


@pytest.mark.parametrize("argv, expected", [
    (["--debug=false", "list"], False),
    (["--debug=true", "list"], True),
    (["--debug=1", "list"], True),
    (["-debug", "list"], True),
])
def test_globals_boolean_values(argv: list[str], expected: bool) -> None:
    g, rest = parse_globals(argv)
    assert g.debug is expected and rest == ["list"]


@pytest.mark.parametrize("argv, expected, rest", [
    (["--rootless", "list"], "true", ["list"]),
    (["--rootless", "false", "list"], "false", ["list"]),
    (["--rootless", "auto", "list"], "auto", ["list"]),
    (["--rootless=true", "list"], "true", ["list"]),
])
def test_globals_rootless(argv: list[str], expected: str, rest: list[str]) -> None:
    g, r = parse_globals(argv)
    assert g.rootless == expected and r == rest


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_format_valid(fmt: str) -> None:
    assert parse_globals(["--log-format", fmt, "list"])[0].log_format == fmt
    assert parse_globals([f"--log-format={fmt}", "list"])[0].log_format == fmt


@pytest.mark.parametrize("fmt", ["xml", "", "JSON2"])
def test_log_format_invalid(fmt: str) -> None:
    with pytest.raises(UsageError, match="--log-format") as info:
        parse_globals([f"--log-format={fmt}", "list"])
    assert "\n" not in info.value.message


def test_globals_missing_value() -> None:
    with pytest.raises(UsageError, match="flag needs an argument: --root"):
        parse_globals(["--root"])


def test_globals_unknown_flag() -> None:
    with pytest.raises(UsageError, match="flag provided but not defined: --nope"):
        parse_globals(["--nope", "list"])


def test_globals_leave_help_and_version() -> None:
    for flag in ("--version", "-v", "--help", "-h"):
        g, rest = parse_globals(["--root", "/x", flag])
        assert g.root == "/x" and rest == [flag]


# -- parse_options -------------------------------------------------------------------

def test_options_values_and_positionals() -> None:
    opts, pos = parse_options(["--bundle", "/b", "--pid-file=/p", "id"], CREATE.values,
                              CREATE.flags)
    assert opts == {"bundle": "/b", "pid_file": "/p"} and pos == ["id"]


@pytest.mark.parametrize("args", [["-b", "/b", "id"], ["-b=/b", "id"], ["-bundle", "/b", "id"],
                                  ["--bundle=/b", "id"], ["id", "--bundle", "/b"]])
def test_options_bundle_spellings(args: list[str]) -> None:
    opts, pos = parse_options(args, CREATE.values, CREATE.flags)
    assert opts["bundle"] == "/b" and pos == ["id"]


def test_options_value_may_look_like_a_flag() -> None:
    opts, pos = parse_options(["--bundle", "--weird", "id"], CREATE.values, CREATE.flags)
    assert opts["bundle"] == "--weird" and pos == ["id"]


def test_options_value_may_contain_equals() -> None:
    opts, _ = parse_options(["--pid-file=/a=b", "id"], CREATE.values, CREATE.flags)
    assert opts["pid_file"] == "/a=b"


@pytest.mark.parametrize("args, expected", [
    (["--detach", "id"], True),
    (["-d", "id"], True),
    (["-detach", "id"], True),
    (["--detach=false", "id"], False),
    (["--detach=true", "id"], True),
    (["--detach=FALSE", "id"], False),
    (["--detach=0", "id"], False),
    (["--detach=t", "id"], True),
    (["id"], None),
])
def test_options_booleans(args: list[str], expected: bool | None) -> None:
    opts, pos = parse_options(args, RUN.values, RUN.flags)
    assert opts.get("detach") is expected and pos == ["id"]


@pytest.mark.parametrize("value", ["maybe", "", "2", "yes please"])
def test_options_bad_boolean(value: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_options([f"--detach={value}", "id"], RUN.values, RUN.flags)
    assert "--detach" in info.value.message and "boolean" in info.value.message


def test_options_boolean_does_not_eat_next_argument() -> None:
    """``--detach false`` is the flag then a positional, as in Go's flag package."""
    opts, pos = parse_options(["--detach", "false", "id"], RUN.values, RUN.flags)
    assert opts["detach"] is True and pos == ["false", "id"]


@pytest.mark.parametrize("flag", ["--nope", "-nope", "--nope=1", "-x"])
def test_options_unknown_flag(flag: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_options([flag, "id"], CREATE.values, CREATE.flags)
    msg = info.value.message
    assert msg.startswith("flag provided but not defined: ")
    assert flag.lstrip("-").split("=")[0] in msg and "=" not in msg


def test_options_missing_value() -> None:
    with pytest.raises(UsageError, match="flag needs an argument: --bundle"):
        parse_options(["id", "--bundle"], CREATE.values, CREATE.flags)


def test_options_double_dash() -> None:
    opts, pos = parse_options(["--force", "--", "--not-a-flag", "-f"],
                              COMMANDS["delete"].values, COMMANDS["delete"].flags)
    assert opts == {"force": True} and pos == ["--not-a-flag", "-f"]
    opts, pos = parse_options(["--"], {}, {})
    assert opts == {} and pos == []


def test_options_single_dash_is_positional() -> None:
    opts, pos = parse_options(["-"], {}, {})
    assert pos == ["-"]


def test_options_stop_at_positional() -> None:
    opts, pos = parse_options(["--bundle", "/b", "id", "--nope", "x"], CREATE.values,
                              CREATE.flags, stop_at_positional=True)
    assert opts == {"bundle": "/b"} and pos == ["id", "--nope", "x"]


def test_options_repeated_value_last_wins() -> None:
    opts, _ = parse_options(["-b", "/one", "-b", "/two", "id"], CREATE.values, CREATE.flags)
    assert opts["bundle"] == "/two"


# -- signals -----------------------------------------------------------------------

@pytest.mark.parametrize("text, number", [
    ("0", 0), ("9", 9), ("KILL", 9), ("SIGKILL", 9), ("sigkill", 9), ("kill", 9), (" TERM ", 15),
    ("15", 15), ("HUP", 1), ("SIGUSR1", int(signal.SIGUSR1)), ("usr2", int(signal.SIGUSR2)),
    ("CHLD", int(signal.SIGCHLD)), ("WINCH", int(signal.SIGWINCH)),
    ("RTMIN", int(signal.SIGRTMIN)), ("SIGRTMIN", int(signal.SIGRTMIN)),
    ("RTMIN+3", int(signal.SIGRTMIN) + 3), ("SIGRTMIN+3", int(signal.SIGRTMIN) + 3),
    ("rtmin+3", int(signal.SIGRTMIN) + 3), ("RTMAX-1", int(signal.SIGRTMAX) - 1),
    ("RTMAX", int(signal.SIGRTMAX)), (str(int(signal.SIGRTMAX)), int(signal.SIGRTMAX)),
    ("1", 1),
])
def test_parse_signal(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", [
    "-9", "65", "999", "", "NOPE", "SIG", "SIGNOPE", "9x", "RTMIN+99", "RTMAX-99",
    "RTMIN-1", "RTMAX+1", "RTMIN+", "SIG_DFL", "SIG_IGN", "9.0", "+9",
])
def test_parse_signal_invalid(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_signal(text)
    assert "signal" in info.value.message and "\n" not in info.value.message


# -- dispatch ------------------------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["state"], "state: expected 1 argument(s) (<container-id>), got 0"),
    (["state", "a", "b"], "got 2"),
    (["start"], "start: expected 1"),
    (["delete"], "delete: expected 1"),
    (["create"], "create: expected 1"),
    (["run", "a", "b"], "run: expected 1"),
    (["kill"], "kill: expected 1 to 2 argument(s)"),
    (["kill", "a", "b", "c"], "got 3"),
    (["list", "x"], "list: expected 0 argument(s)"),
    (["spec", "x"], "spec: expected 0"),
    (["features", "x"], "features: expected 0"),
])
def test_dispatch_argument_counts(argv: list[str], fragment: str) -> None:
    g, rest = parse_globals(argv)
    with pytest.raises(UsageError) as info:
        dispatch(g, rest)
    assert fragment in info.value.message


def test_dispatch_unknown_command() -> None:
    g, rest = parse_globals(["frobnicate"])
    with pytest.raises(UsageError, match="No help topic for 'frobnicate'"):
        dispatch(g, rest)


def test_dispatch_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    g = cli.Globals()
    assert dispatch(g, []) == 1
    assert "usage: pyoci" in capsys.readouterr().out
    assert dispatch(g, ["--help"]) == 0
    assert "commands:" in capsys.readouterr().out
    assert dispatch(g, ["--version"]) == 0
    out = capsys.readouterr().out
    assert "pyoci version" in out and "spec: 1.3.0" in out
    assert dispatch(g, ["state", "--help"]) == 0
    assert "usage: pyoci state" in capsys.readouterr().out


def test_dispatch_bad_preserve_fds(tmp_path: Path) -> None:
    g, rest = parse_globals(["--root", str(tmp_path), "create", "--preserve-fds", "x", "id"])
    threads = len(os.listdir("/proc/self/task"))
    with pytest.raises(UsageError, match="--preserve-fds"):
        dispatch(g, rest)
    assert list(tmp_path.iterdir()) == []
    # No thread left behind: a fork into a cgroup needs a single-threaded process
    # (pyoci.cgroups.join), and tests call dispatch in their own.
    assert len(os.listdir("/proc/self/task")) == threads


def test_dispatch_bad_signal_touches_nothing(tmp_path: Path) -> None:
    g, rest = parse_globals(["--root", str(tmp_path), "kill", "pyoci-none", "NOPE"])
    with pytest.raises(PyociError, match="signal"):
        dispatch(g, rest)


def test_dispatch_list_bad_format(tmp_path: Path) -> None:
    g, rest = parse_globals(["--root", str(tmp_path), "list", "--format=xml"])
    with pytest.raises(UsageError, match="--format"):
        dispatch(g, rest)


# -- main: one line, exit code ---------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["--log-format=xml", "list"], ["state"], ["kill", "id", "NOPE"], ["nope"],
    ["delete", "--force=maybe", "id"], ["--root"], ["state", "pyoci-none"],
])
def test_main_reports_one_line(argv: list[str], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--root", str(tmp_path / "r"), *argv] if argv != ["--root"] else argv)
    assert code != 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyoci: "), captured.err
    assert "Traceback" not in captured.err


def test_main_log_file_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.json"
    code = cli.main(["--root", str(tmp_path / "r"), "--log", str(log), "--log-format", "json",
                     "state", "pyoci-none"])
    assert code == 1
    assert 'does not exist' in capsys.readouterr().err
    assert "does not exist" in log.read_text()


def test_binary_help_exit_codes() -> None:
    ok = subprocess.run([*PYOCI, "--version"], capture_output=True, timeout=30)
    assert ok.returncode == 0 and b"spec: 1.3.0" in ok.stdout
    bad = subprocess.run([*PYOCI, "--log-format", "xml", "list"], capture_output=True,
                         timeout=30)
    assert bad.returncode != 0 and bad.stderr.count(b"\n") == 1
