"""Temporary git copies of this repository, for running the real dvc CLI in them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from housing.dev import workspace as ws


@pytest.fixture(scope="session")
def dvc_cache(tmp_path_factory) -> Path:
    """One DVC cache for the session's workspaces."""
    return tmp_path_factory.mktemp("dvc-cache")


@pytest.fixture(scope="session")
def new_workspace(repo_root, dvc_cache) -> Callable:
    """new_workspace(dst, small=True, shared_cache=True): a committed copy of the project
    at ``dst``.

    With ``shared_cache`` the workspaces share the session's DVC cache (`cache.dir` in
    each one's git-ignored .dvc/config.local), as a team shares a remote: a stage that
    already ran with the same command, params and input hashes in another workspace is
    checked out from DVC's run cache ("Stage '...' is cached") instead of run again. A
    test that needs a stage to run changes one of its inputs, as every test that retrains
    does."""

    def make(dst: Path, small: bool = True, shared_cache: bool = True) -> Path:
        workspace = ws.make_workspace(repo_root, dst, small=small)
        if shared_cache:
            ws.run(["dvc", "config", "--local", "cache.dir", str(dvc_cache)], workspace)
        return workspace

    return make


@pytest.fixture(scope="session")
def pipeline_workspace(tmp_path_factory, new_workspace) -> Path:
    """A workspace in which the real `dvc repro` has run once with small params."""
    workspace = new_workspace(tmp_path_factory.mktemp("pipeline") / "housing")
    ws.run(["dvc", "repro"], workspace)
    return workspace
