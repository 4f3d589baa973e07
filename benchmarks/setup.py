"""The README's two set-up commands on a fresh clone of HEAD, timed, and their times
written into the README's set-up section (between its setup-times markers) and
docs/benchmarks/setup.md.

    SCIKIT_LEARN_DATA=... python benchmarks/setup.py

In a temporary folder: `git clone` of this repository's HEAD (no .venv, no outputs, no
stores), then `make repro`, `make repro` again, and `make test`, each timed, with Python
writing bytecode as it does by default. Goals: the
first command ends with a production version in the clone's registry, the second call
installs nothing and trains nothing, and the suite passes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from housing.io import write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
START, END = "<!-- setup-times: written by benchmarks/setup.py -->", "<!-- /setup-times -->"


def user_env() -> dict[str, str]:
    """This environment as a user's machine has it: Python writes bytecode on first import
    (some CI and sandbox images set PYTHONDONTWRITEBYTECODE, which makes every one of the
    suite's subprocesses compile from source)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False,
                            env=user_env())
    return time.perf_counter() - start, result


def summary_line(output: str) -> str:
    """pytest's closing line ("563 passed in 431.2s"), or the last line."""
    lines = [line.strip("= ") for line in output.splitlines() if line.strip()]
    closing = [line for line in lines if re.search(r"\d+ (passed|failed)", line)]
    return (closing or lines or ["no output"])[-1]


def write_readme(rows: list[tuple[str, float]], when: str) -> None:
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    cells = "; ".join(f"`{cmd}` {seconds / 60:.1f} min" for cmd, seconds in rows)
    block = (f"{START}\nOn a fresh clone ({when}, this project's 2-core machine; each "
             f"time includes its install): {cells}.\n{END}")
    head, rest = text.split(START, 1)
    updated = head + block + rest.split(END, 1)[1]
    write_text(updated, README)


def main() -> int:
    if not os.environ.get("SCIKIT_LEARN_DATA"):
        raise SystemExit("set SCIKIT_LEARN_DATA to the folder holding cal_housing_py3.pkz")
    verdict = {True: "met", False: "NOT met"}
    with tempfile.TemporaryDirectory(prefix="housing-setup-") as tmp:
        clone = Path(tmp) / "housing"
        subprocess.run(["git", "clone", "-q", "--no-local", str(REPO_ROOT), str(clone)],
                       check=True)
        first, repro = timed(["make", "repro"], clone)
        second, again = timed(["make", "repro"], clone)
        tests, suite = timed(["make", "test"], clone)
    last = repro.stdout.strip().splitlines()[-1] if repro.stdout.strip() else ""
    registered = repro.returncode == 0 and "register version" in last and "production" in last
    idle = (again.returncode == 0 and "installing" not in again.stdout
            and "Running stage 'tune'" not in again.stdout)
    rows = [("make repro", first), ("make test", tests)]
    print("| command | minutes | exit | ends with |")
    print("| --- | ---: | ---: | --- |")
    print(f"| make repro (fresh clone) | {first / 60:.1f} | {repro.returncode} | {last} |")
    print(f"| make repro (again) | {second / 60:.1f} | {again.returncode} | "
          f"{'nothing installed, nothing trained' if idle else 'installed or trained'} |")
    print(f"| make test | {tests / 60:.1f} | {suite.returncode} | "
          f"{summary_line(suite.stdout)} |")
    print(f"goals: a production version after the first command {verdict[registered]}; "
          f"the second call installs and trains nothing {verdict[idle]}; "
          f"the suite passes {verdict[suite.returncode == 0]}")
    for name, result in (("make repro", repro), ("make test", suite)):
        if result.returncode != 0:  # what went wrong, on stderr (a failed run writes no table)
            print(f"{name} failed:\n{(result.stdout + result.stderr)[-4000:]}", file=sys.stderr)
    if registered and suite.returncode == 0:
        write_readme(rows, time.strftime("%Y-%m-%d", time.gmtime()))
        print("wrote the times into README.md's set-up section")
    return 0 if registered and idle and suite.returncode == 0 else 1


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("setup", "The README's two set-up commands on a fresh clone"):
        if main() != 0:
            sys.exit(1)  # a failed run writes no table
