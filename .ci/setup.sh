#!/usr/bin/env bash
# Installs everything pyoci needs on a fresh Debian 12 machine, idempotently:
# Debian packages, the project's venv with pyoci in it, and the demo rootfs.
# The README's commands and .ci/run call this; it is quick when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "pyoci's set-up and tests need root (they create real containers): run with sudo" >&2
  exit 1
fi

packages=(python3 python3-venv python3-dev gcc libcap-dev libseccomp2 busybox-static runc
          dbus-daemon)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q "${missing[@]}" >/dev/null
  }
fi

# The venv uses Debian's python3 (3.11): it exists on every Debian 12 machine,
# unlike a pyenv shim, and starts fast.
stamp=.venv/.pyoci-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv"
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  echo "$want" > "$stamp"
fi
# The command engines call: the venv's interpreter with -I -S (no site, no user or
# environment paths: ~10 ms cheaper per call, and immune to PYTHON* variables an
# engine's environment may carry), with the project first on sys.path and its
# dependencies last, as site.py orders them (a stdlib C module such as _json is
# then found without a listing of site-packages).
# exit_now skips the interpreter's teardown (~4 ms; only stdio needs flushing).
# The cycle collector is off: a command lives milliseconds, and its passes over
# the freshly imported modules cost ~2 ms of every create (events, the one
# command that runs for long, turns it back on).
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > .venv/bin/pyoci <<LAUNCHER
#!$PWD/.venv/bin/python3 -IS
import gc
gc.disable()
import sys
sys.path[:0] = ["$PWD"]
sys.path.append("$site")
from pyoci.cli import exit_now, main
exit_now(main())
LAUNCHER
chmod 755 .venv/bin/pyoci

# Byte-compile once so that every pyoci start-up reads .pyc files.
.venv/bin/python -m compileall -q pyoci >/dev/null

bundles/busybox/build-rootfs.sh >/dev/null

