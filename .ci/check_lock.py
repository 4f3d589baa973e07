"""After a from-scratch `dvc repro` in a fresh clone, check that every output of every stage
has the hash the committed dvc.lock gives it: the proof that a clone rebuilds, bit for bit,
the data, the features, the model, the metrics, the plots and the report the commit
describes.

    python .ci/check_lock.py --clear   # before: delete every output the lock lists
    dvc repro                          # (make repro)
    python .ci/check_lock.py           # after: compare

A fresh clone already holds the outputs git tracks (metrics, plots, figures, the report,
the gate file): `--clear` deletes them too, so that every stage runs and writes each one
again, and git then sees whether the bytes came back the same.

It compares HEAD's dvc.lock with the dvc.lock the run wrote (DVC hashed the outputs it
built, directories included), asks `dvc status` that the files on disk are those outputs,
and asks git that neither dvc.lock nor any output it tracks changed. Exit 1, naming each
path and both hashes, when anything differs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml


def outputs(lock: dict) -> dict[str, str]:
    """Every output path of every stage, with its md5."""
    return {out["path"]: out["md5"] for stage in lock["stages"].values()
            for out in stage.get("outs", [])}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def clear(paths: list[str]) -> None:
    for path in map(Path, paths):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    print(f"cleared: the {len(paths)} outputs dvc.lock lists, so that every stage runs")


def main() -> int:
    if sys.argv[1:] == ["--clear"]:
        clear(sorted(outputs(yaml.safe_load(git("show", "HEAD:dvc.lock")))))
        return 0
    committed = outputs(yaml.safe_load(git("show", "HEAD:dvc.lock")))
    rebuilt = outputs(yaml.safe_load(Path("dvc.lock").read_text()))
    problems = [f"NOT REPRODUCED {path}: committed dvc.lock md5 {want}, rebuilt "
                f"{rebuilt.get(path, 'nothing')}"
                for path, want in sorted(committed.items()) if rebuilt.get(path) != want]
    problems += [f"NOT IN THE COMMITTED LOCK {path}: rebuilt md5 {rebuilt[path]}"
                 for path in sorted(set(rebuilt) - set(committed))]
    status = json.loads(subprocess.run([sys.executable, "-m", "dvc", "status", "--json"],
                                       check=True, capture_output=True, text=True).stdout
                        or "{}")
    problems += [f"DVC STATUS {stage}: {change}" for stage, change in sorted(status.items())
                 if change != ["always changed"]]
    problems += [f"GIT STATUS {line}" for line in
                 git("status", "--porcelain", "--untracked-files=all", "--", "dvc.lock",
                     *committed).splitlines()]
    for line in problems:
        print(line)
    if not problems:
        print(f"reproduced: all {len(committed)} outputs of "
              f"{len(yaml.safe_load(git('show', 'HEAD:dvc.lock'))['stages'])} stages match "
              "the committed dvc.lock, and git status is clean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
