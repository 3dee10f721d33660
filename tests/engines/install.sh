#!/usr/bin/env bash
# Installs the container engines the engine tests drive (podman with conmon,
# containerd with its runc shim, docker) from Debian's packages. Nothing is
# started here: the tests start private daemons and stop them by pid.
set -euo pipefail
packages=(podman conmon containerd docker.io containernetworking-plugins uidmap iptables util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing engines from Debian: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
