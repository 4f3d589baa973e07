"""Throw-away copies of the project for the real dvc CLI: used by the integration tests and
the benchmarks, never by the pipeline itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

# Small params: a full pipeline in under a minute, same code paths as the defaults. Boosting
# stops at 100 rounds (tune.max_rounds): on 1,500 rows the trees, not the rows, set what a
# tune, an evaluation and lleaves' compilation cost. One training thread (on 1,500 rows a
# second one buys nothing), so that two workspaces can train at once on 2 cores without
# OpenMP threads spinning against each other.
SMALL_PARAMS = {
    "prepare": {"train_sample_rows": 1500},
    "tune": {"n_trials": 3, "retrain_trials": 2, "cv_folds": 3, "max_rounds": 100,
             "n_threads": 1},
    "evaluate": {"permutation_repeats": 1},
    "register": {"max_rmse": 0.7, "min_r2": 0.6},
}


class CommandFailed(RuntimeError):
    """A CLI command run in a workspace exited non-zero; the message holds its output."""


def default_data_cache(repo_root: Path) -> None:
    """Point SCIKIT_LEARN_DATA at ../shared's cache unless it is set (no network here)."""
    cache = repo_root.parent / "shared" / "scikit_learn_data"
    if not os.environ.get("SCIKIT_LEARN_DATA") and cache.is_dir():
        os.environ["SCIKIT_LEARN_DATA"] = str(cache)


def project_files(root: Path) -> list[str]:
    """The files git tracks, plus untracked ones it does not ignore."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=root, check=True, capture_output=True, text=True).stdout
    return [f for f in out.split("\0") if f and (root / f).is_file()]


def with_overrides(params: dict, overrides: dict[str, dict]) -> dict:
    """``params`` with some keys of some groups replaced."""
    out = {group: dict(values) for group, values in params.items()}
    for group, values in overrides.items():
        out[group].update(values)
    return out


def set_params(workspace: Path, overrides: dict[str, dict]) -> dict:
    """Rewrite the workspace's params.yaml with ``overrides``; return the new params."""
    path = workspace / "params.yaml"
    params = with_overrides(yaml.safe_load(path.read_text()), overrides)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def clean_env(workspace: Path) -> dict[str, str]:
    """The environment a user would have: no store overrides, offline, the data cache set."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "DVC_ROOT"}}
    env.update({"GIT_AUTHOR_NAME": "housing tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
                "GIT_COMMITTER_NAME": "housing tests", "GIT_COMMITTER_EMAIL": "tests@localhost",
                "HOME": str(workspace.parent)})
    return env


def make_workspace(repo_root: Path, dst: Path, *, small: bool = True) -> Path:
    """Copy the project into ``dst`` (with small params by default) and commit it."""
    for rel in project_files(repo_root):
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_root / rel, target)
    if small:
        set_params(dst, SMALL_PARAMS)
    env = clean_env(dst)
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "workspace"]):
        subprocess.run(cmd, cwd=dst, env=env, check=True)
    return dst


def run(cmd: list[str], cwd: Path, *, check: bool = True, timeout: float = 900,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a real CLI command in the workspace; on failure raise with its output."""
    result = subprocess.run(cmd, cwd=cwd, env={**clean_env(cwd), **(env or {})},
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise CommandFailed(f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout}\n"
                            f"{result.stderr[-6000:]}")
    return result


# Stages DVC skips when nothing changed; monitor and register run on every `dvc repro`.
TRAINING_STAGES = ("prepare", "featurize", "tune", "evaluate")
ALWAYS_RUN = ("monitor", "register")


def model_versions(workspace: Path, name: str = "california-housing") -> list[int]:
    """The registered versions in a workspace's embedded MLflow store."""
    from housing.registry import store

    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    return [int(v.version) for v in store.versions(name, uri=uri)]
