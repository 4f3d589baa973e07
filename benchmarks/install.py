"""Install size and time of each pinned set, each into a fresh virtual environment.

    python benchmarks/install.py [--no-baseline]

For the runtime set (requirements.txt, what `make repro` installs), the team set
(requirements-team.txt) and the test set (requirements-test.txt, what `make test` adds):
a new venv in a temporary folder, pip upgraded, then the Makefile's exact install
`pip install --no-deps --no-compile -r FILE` timed, and the venv measured on disk (bytecode
is not compiled at install; Python writes it on first import). Baseline, in the same run:
the runtime set installed the ordinary, resolving way (`pip install -r requirements.txt`),
which lets NannyML's and MLflow's declared extras back in. Goals: the runtime set at most
1.0 GB, every set at most 120 s, nothing CUDA.
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
EXACT = ["--no-deps", "--no-compile"]
SETS = (("runtime", "requirements.txt"), ("team", "requirements-team.txt"),
        ("test", "requirements-test.txt"))
RUNTIME_GOAL_BYTES = 1.0e9
SECONDS_GOAL = 120


def size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def install(tmp: Path, requirements: str, flags: list[str]) -> tuple[float, int, list[str]]:
    """(seconds for the install command, venv bytes, CUDA packages) in a fresh venv."""
    venv = tmp / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True,
                   stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    subprocess.run([*pip, "install", "-q", *flags, "-r", requirements], cwd=REPO_ROOT,
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
    rows = []
    with tempfile.TemporaryDirectory(prefix="housing-install-") as tmp:
        for name, requirements in SETS:
            rows.append((f"{name}: pip install --no-deps --no-compile -r {requirements}",
                         install(Path(tmp), requirements, EXACT)))
        if not args.no_baseline:
            rows.append(("baseline: pip install -r requirements.txt (resolving)",
                         install(Path(tmp), "requirements.txt", [])))
    print("| install | seconds | venv size | CUDA packages |")
    print("| --- | ---: | ---: | --- |")
    for label, (seconds, size, cuda) in rows:
        print(f"| {label} | {seconds:.0f} | {size / 1e9:.3f} GB | {', '.join(cuda) or 'none'} |")
    runtime, test = rows[0][1], rows[2][1]
    print(f"\nthe runtime set is {runtime[1] / test[1]:.2f}x the test set's size")
    if not args.no_baseline:
        base = rows[-1][1]
        print(f"runtime / resolving: time {runtime[0] / base[0]:.2f}x, "
              f"size {runtime[1] / base[1]:.2f}x")
    verdict = {True: "met", False: "NOT met"}
    exact = [r for _, r in rows[:3]]
    print(f"goals: runtime set <= 1.0 GB {verdict[runtime[1] <= RUNTIME_GOAL_BYTES]}; "
          f"every set <= {SECONDS_GOAL} s {verdict[all(r[0] <= SECONDS_GOAL for r in exact)]}; "
          f"nothing CUDA {verdict[not any(r[2] for r in exact)]}")


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("install", "Installing each pinned set"):
        main()
