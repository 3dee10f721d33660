#!/usr/bin/env bash
# Build the demo bundle's root filesystem from Debian's busybox-static.
#
# Usage: build-rootfs.sh [DEST]   (DEST defaults to rootfs/ next to this script)
#
# Why this shape: the machines are offline apart from the Debian/PyPI mirrors,
# so the rootfs is made from the statically linked busybox (no libc needed in
# the container) plus one symlink per applet. The script is idempotent and
# forks almost nothing on a rerun (only missing links are created), so tests
# and the benchmark can call it unconditionally. The rootfs is never committed.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-${script_dir}/rootfs}"
busybox=/bin/busybox

ensure_busybox() {
    # Install busybox-static only when missing; refresh the package lists
    # only if the first attempt fails (apt-get update is slow).
    if [[ -x "${busybox}" ]]; then
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y busybox-static; then
        apt-get update
        apt-get install -y busybox-static
    fi
}

copy_binary() {
    mkdir -p "${dest}/bin"
    if ! cmp -s "${busybox}" "${dest}/bin/busybox"; then
        cp -f "${busybox}" "${dest}/bin/busybox"
        chmod 0755 "${dest}/bin/busybox"
    fi
}

make_dirs() {
    local d
    for d in proc sys dev tmp run root home etc bin sbin usr/bin usr/sbin; do
        [[ -d "${dest}/${d}" ]] || mkdir -p "${dest}/${d}"
    done
    chmod 1777 "${dest}/tmp"
    chmod 0700 "${dest}/root"
}

link_applets() {
    # `busybox --list-full` prints paths relative to / (e.g. usr/bin/env).
    local applet
    while IFS= read -r applet; do
        [[ -n "${applet}" && "${applet}" != "bin/busybox" ]] || continue
        if [[ ! -L "${dest}/${applet}" && ! -e "${dest}/${applet}" ]]; then
            ln -s /bin/busybox "${dest}/${applet}"
        fi
    done < <("${busybox}" --list-full)
}

write_if_changed() {
    # Rewrite a file only when its content differs, so reruns touch nothing.
    local path="$1" content="$2"
    if [[ ! -f "${path}" || "$(<"${path}")" != "${content}" ]]; then
        printf '%s\n' "${content}" >"${path}"
    fi
}

write_accounts() {
    write_if_changed "${dest}/etc/passwd" "root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false"
    write_if_changed "${dest}/etc/group" "root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:"
}

ensure_busybox
mkdir -p "${dest}"
copy_binary
make_dirs
link_applets
write_accounts
