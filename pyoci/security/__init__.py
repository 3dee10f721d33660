"""Process security settings applied by the container init before exec.

Capabilities live here; seccomp, AppArmor and SELinux labels belong beside them
so that everything narrowing the process's privileges is found in one package.
"""
