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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gunicorn_service(repo_root, tmp_path_factory) -> Callable:
    """gunicorn_service(cwd, env): a context manager that starts the real service with
    gunicorn.conf.py on a free loopback port, waits until /ready answers 200, yields
    (base URL, process) and stops it with SIGTERM. The services of a session share one
    lleaves cache of their own."""
    import contextlib
    import os
    import signal
    import subprocess
    import time
    import urllib.request

    tree_cache = tmp_path_factory.mktemp("tree-cache")

    @contextlib.contextmanager
    def start(cwd: Path, env: dict[str, str]):
        port = free_port()
        # The server's log goes to a file: an undrained pipe fills (64 KiB) and then
        # blocks every worker that writes a log line, which looks like a hung service.
        log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
        log = open(log_path, "w")  # noqa: SIM115 - closed after the server stops
        proc = subprocess.Popen(
            ["gunicorn", "-c", str(repo_root / "gunicorn.conf.py"),
             "housing.deployment.app:create_app()"],
            cwd=cwd, env={**os.environ, "HOUSING_BIND": f"127.0.0.1:{port}",
                          "WEB_CONCURRENCY": "2", "HOUSING_MODEL_POLL_SECONDS": "0",
                          "HOUSING_TREE_CACHE": str(tree_cache), **env},
            stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited: {log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"gunicorn did not become ready: {log_path.read_text()[-4000:]}")
            time.sleep(0.3)
        try:
            yield base, proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()

    return start


@pytest.fixture(scope="session")
def store_in() -> Callable:
    """store_in(workspace): a context manager that points MLFLOW_TRACKING_URI at
    ``workspace``'s own SQLite store and works in that folder (as the register stage
    does), yields the URI, and restores both on exit."""
    import contextlib
    import os

    @contextlib.contextmanager
    def use(workspace: Path):
        uri = f"sqlite:///{workspace / 'mlflow.db'}"
        previous, cwd = os.environ.get("MLFLOW_TRACKING_URI"), os.getcwd()
        os.environ["MLFLOW_TRACKING_URI"] = uri
        os.chdir(workspace)
        try:
            yield uri
        finally:
            os.chdir(cwd)
            if previous is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = previous

    return use
