"""The DVC remote the project configures is verified: an object changed on the remote is
refused, never checked out into the workspace where a stage would load it (the real dvc
CLI, a local-path remote)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from housing.dev.stack import configure_remote

pytestmark = pytest.mark.slow


def sh(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_changed_object_on_the_remote_is_refused(tmp_path):
    origin, remote = tmp_path / "origin", tmp_path / "remote"
    sh(["git", "init", "-q", str(origin)], tmp_path)
    sh(["dvc", "init", "-q"], origin)
    (origin / "models").mkdir()
    (origin / "models/model.joblib").write_bytes(b"the model the lock names")
    assert sh(["dvc", "add", "-q", "models/model.joblib"], origin).returncode == 0
    sh(["git", "add", "-A"], origin)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "m"], origin)
    configure_remote(remote, origin)
    assert "verify = true" in (origin / ".dvc/config.local").read_text()
    assert sh(["dvc", "push", "-q"], origin).returncode == 0
    [stored] = [p for p in remote.rglob("*") if p.is_file()]
    stored.chmod(0o644)
    stored.write_bytes(b"import os; os.system('...')")  # what a writer of the remote could
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    configure_remote(remote, clone)
    pulled = sh(["dvc", "pull"], clone)
    assert pulled.returncode != 0 and "models/model.joblib" in pulled.stderr
    assert not (clone / "models/model.joblib").exists()
