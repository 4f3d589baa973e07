"""Build and run the service's container image with podman (tests and benchmarks).

No container registry is reachable on the project's machines, so the base image is made
from Debian's packages: mmdebstrap writes a bookworm root with python3, venv and the
libraries the wheels need, and ``podman import`` turns it into ``BASE_TAG`` (built once
per machine). The Dockerfile's own default base, an official Python image, is what a
team's build machine uses. The build gets this machine's pip settings and CA bundle as
build secrets (never in a layer), and the local package folders those settings name as
read-only build-time volumes (not in a layer either).

podman runs here with runc, host networking and no default ulimits (this VM refuses
rlimit changes): ``CONTAINERS_CONF`` points at a file written beside the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BASE_TAG = "localhost/housing-base:bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "libgomp1")
CONTAINERS_CONF = """[containers]
default_ulimits = []
[engine]
runtime = "runc"
"""
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class ImageError(RuntimeError):
    """podman or mmdebstrap is missing or failed; the message says which and why."""


def missing_tools() -> list[str]:
    return [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]


def podman_env(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(args: list[str], env: dict[str, str], timeout: float = 1200,
           check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise ImageError(f"podman {args[0]} exited {result.returncode}: "
                         f"{(result.stderr or result.stdout)[-3000:]}")
    return result


def has_image(tag: str, env: dict[str, str]) -> bool:
    return podman(["image", "exists", tag], env, check=False).returncode == 0


def base_image(folder: Path, env: dict[str, str]) -> str:
    """``BASE_TAG``, made from Debian's packages if this machine does not have it yet."""
    if has_image(BASE_TAG, env):
        return BASE_TAG
    rootfs = folder / "rootfs.tar"
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    mirror = [str(sources)] if sources.exists() else []
    result = subprocess.run(["mmdebstrap", "--variant=apt", "--quiet",
                             f"--include={','.join(BASE_PACKAGES)}", "bookworm", str(rootfs),
                             *mirror], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise ImageError(f"mmdebstrap exited {result.returncode}: {result.stderr[-3000:]}")
    podman(["import", str(rootfs), BASE_TAG], env)
    rootfs.unlink()
    return BASE_TAG


def pip_settings(folder: Path) -> tuple[Path, list[Path]]:
    """This machine's pip settings merged into one file (every config file and PIP_*
    variable, as ``pip config list`` shows them), and the local folders they name
    (``file://`` indexes, find-links), which the build mounts read-only."""
    import re
    import sys

    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], env={
        **os.environ, "PIP_CONSTRAINT": ""}, capture_output=True, text=True, check=False)
    settings, folders = {}, []
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        name = key.partition(".")[2]
        value = value.strip().strip("'")
        if name in ("constraint", "cert") or not name:
            continue  # the constraint file is not in the build; the CA comes as a secret
        settings[name] = value
        folders += [Path(p) for p in re.findall(r"(?:file://)?(/[^\s']+)", value)
                    if Path(p).is_dir()]
    conf = folder / "pip.conf"
    conf.write_text("[global]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    roots = {Path(*f.parts[:3]) for f in folders}  # /opt/pypi/simple -> /opt/pypi
    return conf, sorted(roots)


def build(root: Path, tag: str, env: dict[str, str], folder: Path,
          base: str | None = None) -> None:
    """``podman build`` of the project's Dockerfile as ``tag``."""
    args = ["build", "--format", "docker", "--network", "host", "-t", tag]
    if base:
        args += ["--build-arg", f"BASE={base}"]
    conf, local = pip_settings(folder)
    args += ["--secret", f"id=pipconf,src={conf}"]
    if CA_BUNDLE.exists():
        args += ["--secret", f"id=cacert,src={CA_BUNDLE}"]
    for path in local:
        args += ["--volume", f"{path}:{path}:ro"]
    podman([*args, str(root)], env)


def size_bytes(tag: str, env: dict[str, str]) -> int:
    return int(podman(["image", "inspect", tag, "--format", "{{.Size}}"], env).stdout)
