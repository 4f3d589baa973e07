"""Rebuild the data and feature stages in this (fresh) clone and compare every output's
md5 with the committed dvc.lock: the proof that a clone reproduces what the commit says.

    python .ci/check_lock.py [STAGE ...]     (default: prepare featurize)

Exit 1, naming each path and both hashes, when any output differs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from housing.io import file_md5 as md5


def committed_outputs(stages: list[str]) -> dict[str, str]:
    lock = yaml.safe_load(subprocess.run(["git", "show", "HEAD:dvc.lock"], check=True,
                                         capture_output=True, text=True).stdout)
    return {out["path"]: out["md5"] for stage in stages
            for out in lock["stages"][stage].get("outs", [])}


def main() -> int:
    stages = sys.argv[1:] or ["prepare", "featurize"]
    expected = committed_outputs(stages)
    # With their upstream stages: in a fresh clone the monitor makes data/accepted/, which
    # prepare depends on.
    subprocess.run(["dvc", "repro", "--force", *stages], check=True)
    mismatches = [(path, want, md5(Path(path))) for path, want in sorted(expected.items())
                  if md5(Path(path)) != want]
    for path, want, got in mismatches:
        print(f"NOT REPRODUCED {path}: committed dvc.lock md5 {want}, rebuilt {got}")
    if not mismatches:
        print(f"reproduced: {len(expected)} outputs of {', '.join(stages)} match dvc.lock")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
