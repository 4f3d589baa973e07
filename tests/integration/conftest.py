"""A temporary git copy of this repository, for running the real dvc CLI in it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_CACHE = REPO_ROOT.parent / "shared" / "scikit_learn_data"


def default_data_cache() -> None:
    """Point SCIKIT_LEARN_DATA at ../shared's cache unless it is set (no network here)."""
    if not os.environ.get("SCIKIT_LEARN_DATA") and SHARED_CACHE.is_dir():
        os.environ["SCIKIT_LEARN_DATA"] = str(SHARED_CACHE)

# Small params: a full pipeline in well under a minute, same code paths as the defaults.
SMALL_PARAMS = {
    "prepare": {"train_sample_rows": 1500},
    "tune": {"n_trials": 3, "cv_folds": 3},
    "evaluate": {"permutation_repeats": 1},
    "register": {"max_rmse": 0.7, "min_r2": 0.6},
}


def project_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=root, check=True, capture_output=True, text=True).stdout
    return [f for f in out.split("\0") if f and (root / f).is_file()]


def small_params(root: Path) -> dict:
    params = yaml.safe_load((root / "params.yaml").read_text())
    for group, values in SMALL_PARAMS.items():
        params[group].update(values)
    return params


def clean_env(workspace: Path) -> dict[str, str]:
    """The environment a user would have: no store overrides, offline, the data cache set."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "DVC_ROOT"}}
    env.update({"GIT_AUTHOR_NAME": "housing tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
                "GIT_COMMITTER_NAME": "housing tests", "GIT_COMMITTER_EMAIL": "tests@localhost",
                "HOME": str(workspace.parent)})
    return env


def make_workspace(dst: Path, *, small: bool = True) -> Path:
    """Copy the tracked project into ``dst`` (with small params by default) and commit it."""
    for rel in project_files(REPO_ROOT):
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    if small:
        (dst / "params.yaml").write_text(yaml.safe_dump(small_params(dst), sort_keys=False))
    env = clean_env(dst)
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "small params"]):
        subprocess.run(cmd, cwd=dst, env=env, check=True)
    return dst


def run(cmd: list[str], cwd: Path, *, check: bool = True, timeout: float = 900):
    """Run a real CLI command in the workspace; on failure show its output."""
    result = subprocess.run(cmd, cwd=cwd, env=clean_env(cwd), capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout}\n"
                    f"{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="session")
def pipeline_workspace(tmp_path_factory) -> Path:
    """A workspace in which the real `dvc repro` has run once with small params."""
    workspace = make_workspace(tmp_path_factory.mktemp("pipeline") / "housing")
    run(["dvc", "repro"], workspace)
    return workspace
