"""Build the demo busybox rootfs into an image archive, offline, in pure Python.

The machines reach no registry, so the engine tests cannot pull an image. One
tar holds the image twice over, sharing its blobs:

* an OCI image layout (``oci-layout``, ``index.json`` whose manifest carries
  ``io.containerd.image.name``, ``blobs/sha256/...``) for ``ctr images import``
  (containerd reads the OCI layout whenever ``oci-layout`` is present);
* docker-save's ``manifest.json`` pointing at the same config and layer blobs,
  for ``docker load`` of docker 20.10, which knows only that format.

The layer is an uncompressed tar, so its digest is also its diff id.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def go_arch() -> str:
    """The platform architecture in Go's spelling, which both engines match on."""
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def layer_tar(rootfs: Path) -> bytes:
    """The rootfs as one uncompressed tar: directories, regular files and symlinks,
    owned by root, with fixed times so that the digest only changes with content.
    Device nodes or sockets a test may have left are not image content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(_walk(rootfs)):
            _add(tar, rootfs, path)
    return buf.getvalue()


def _walk(rootfs: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(rootfs):
        base = Path(dirpath)
        found.extend(base / name for name in dirnames + filenames)
    return found


def _add(tar: tarfile.TarFile, rootfs: Path, path: Path) -> None:
    info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
    if not (info.isdir() or info.isreg() or info.issym()):
        return
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _json_bytes(doc: dict | list) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def image_blobs(rootfs: Path) -> tuple[dict[str, bytes], str, str, str]:
    """(blobs by digest, manifest digest, config digest, layer digest)."""
    layer_digest, layer = _blob(layer_tar(rootfs))
    config_doc = {
        "architecture": go_arch(), "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "pyoci tests: bundles/busybox/rootfs"}],
    }
    config_digest, config = _blob(_json_bytes(config_doc))
    manifest_doc = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    manifest_digest, manifest = _blob(_json_bytes(manifest_doc))
    blobs = {layer_digest: layer, config_digest: config, manifest_digest: manifest}
    return blobs, manifest_digest, config_digest, layer_digest


def build_archive(rootfs: Path, dest: Path, name: str) -> Path:
    """Write the combined OCI-layout + docker-save archive for image ``name``
    (``repo:tag``, e.g. ``pyoci-test/busybox:latest``) to ``dest``."""
    if not (rootfs / "bin" / "busybox").exists():
        raise FileNotFoundError(f"{rootfs} is not built: run bundles/busybox/build-rootfs.sh")
    blobs, manifest_digest, config_digest, layer_digest = image_blobs(rootfs)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": manifest_digest,
        "size": len(blobs[manifest_digest]),
        "annotations": {"io.containerd.image.name": _full_name(name),
                        "org.opencontainers.image.ref.name": tag},
        "platform": {"architecture": go_arch(), "os": "linux"},
    }]}
    docker_manifest = [{"Config": _blob_path(config_digest), "RepoTags": [name],
                        "Layers": [_blob_path(layer_digest)]}]
    members = {"oci-layout": _json_bytes({"imageLayoutVersion": "1.0.0"}),
               "index.json": _json_bytes(index), "manifest.json": _json_bytes(docker_manifest)}
    members.update({_blob_path(d): data for d, data in blobs.items()})
    _write_tar(dest, members)
    return dest


def _full_name(name: str) -> str:
    """containerd names images fully qualified, as a pull would."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def _blob_path(digest: str) -> str:
    algorithm, hexdigest = digest.split(":", 1)
    return f"blobs/{algorithm}/{hexdigest}"


def _write_tar(dest: Path, members: dict[str, bytes]) -> None:
    dirs = sorted({str(Path(p).parent) for p in members if "/" in p} | {"blobs"})
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in sorted(members.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
