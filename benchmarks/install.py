"""Install size and time: the README's one set-up command in a fresh virtual environment.

    python benchmarks/install.py [--no-baseline]

Creates a new venv in a temporary folder, upgrades pip, then times the README's command
`pip install --no-deps --no-compile -r requirements.txt` and measures the venv on disk.
Baseline, in the same run: the same requirements.txt installed the ordinary, resolving way
(`pip install -r requirements.txt`), which lets NannyML's declared extras back in. Goals:
at most 1.2 GB, at most 90 s, nothing CUDA.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LEAN = ["--no-deps", "--no-compile"]


def size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def install(tmp: Path, flags: list[str]) -> tuple[float, int, list[str]]:
    """(seconds for the install command, venv bytes, CUDA packages) in a fresh venv."""
    venv = tmp / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
    start = time.perf_counter()
    subprocess.run([*pip, "install", "-q", *flags, "-r", "requirements.txt"], cwd=REPO_ROOT,
                   check=True, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    listed = subprocess.run([*pip, "list", "--format=freeze"], check=True, capture_output=True,
                            text=True).stdout.lower()
    cuda = [line for line in listed.splitlines() if "nvidia" in line or "cuda" in line]
    return seconds, size_bytes(venv), cuda


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-baseline", action="store_true", help="skip the resolving install")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="housing-install-") as tmp:
        lean = install(Path(tmp), LEAN)
        base = None if args.no_baseline else install(Path(tmp), [])
    print("| install | seconds | venv size | CUDA packages |")
    print("| --- | ---: | ---: | --- |")
    rows = [("README: pip install --no-deps --no-compile -r requirements.txt", lean)]
    if base:
        rows.append(("baseline: pip install -r requirements.txt (resolving)", base))
    for name, (seconds, size, cuda) in rows:
        print(f"| {name} | {seconds:.0f} | {size / 1e9:.2f} GB | {', '.join(cuda) or 'none'} |")
    if base:
        print(f"\nlean / resolving: time {lean[0] / base[0]:.2f}x, size {lean[1] / base[1]:.2f}x")
    seconds, size, cuda = lean
    verdict = {True: "met", False: "NOT met"}
    print(f"goals: size <= 1.2 GB {verdict[size <= 1.2e9]}; time <= 90 s "
          f"{verdict[seconds <= 90]}; nothing CUDA {verdict[not cuda]}")


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("install", "Installing from requirements.txt"):
        main()
