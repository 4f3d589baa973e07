"""Temporary git copies of this repository, for running the real dvc CLI in them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from housing import workspace as ws


@pytest.fixture(scope="session")
def new_workspace(repo_root) -> Callable:
    """new_workspace(dst, small=True): a committed copy of the project at ``dst``."""
    return lambda dst, small=True: ws.make_workspace(repo_root, dst, small=small)


@pytest.fixture(scope="session")
def pipeline_workspace(tmp_path_factory, new_workspace) -> Path:
    """A workspace in which the real `dvc repro` has run once with small params."""
    workspace = new_workspace(tmp_path_factory.mktemp("pipeline") / "housing")
    ws.run(["dvc", "repro"], workspace)
    return workspace
