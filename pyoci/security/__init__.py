"""Process security settings applied by the container init before exec.

Capabilities live here; seccomp, AppArmor and SELinux labels belong beside them
so that everything narrowing the process's privileges is found in one package.
"""


def has_seccomp(config: dict) -> bool:
    """True when ``linux.seccomp`` is set (:func:`pyoci.security.seccomp.section_of`).

    Only then is :mod:`pyoci.security.seccomp` imported, by the runtime process
    before any fork (the init and exec's grandchild load the filter after
    pivot_root/setns, where no first import can find the host's files).
    """
    return bool((config.get("linux") or {}).get("seccomp"))
