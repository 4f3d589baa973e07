"""The local team stack: ``housing stack up | status | down``.

For development and tests on one machine, the same layout a team runs on several:

- PostgreSQL (already running: on this project's machines and in CI at 127.0.0.1:5432)
  holds two databases, one for MLflow and one for Optuna (both keep Alembic's
  ``alembic_version`` table, so they cannot share one). Optuna connects as its own role,
  ``<prefix>_optuna``, which owns its database and nothing else (with the password in
  HOUSING_STACK_OPTUNA_PASSWORD, where the server asks for one); only the MLflow server
  uses the admin URL, which it reads from its environment, never from its command line;
- an ``mlflow server`` on PostgreSQL that serves the artifacts itself
  (``--serve-artifacts``), so clients need no object-store credentials;
- a DVC remote: a local folder (an SSH or S3 URL on a real team).

``up`` is idempotent (it creates only what is missing and starts the server only if it is
not answering) and waits for the server's /health; ``down`` stops the server and keeps the
data (``--purge`` drops the databases and the folders too).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from housing.config import workspace_root
from housing.dev.databases import create_databases, databases, drop_databases
from housing.stores import redact_url

logger = logging.getLogger(__name__)

STARTUP_SECONDS = 90


class Stack(BaseSettings):
    """Where the local stack lives; HOUSING_STACK_* variables override the defaults
    (pydantic-settings reads them, as the service reads its own)."""

    model_config = SettingsConfigDict(env_prefix="HOUSING_STACK_", env_ignore_empty=True,
                                      frozen=True, populate_by_name=True)

    # an admin URL (no database); kept out of the repr, as it may hold a password
    postgres: str = Field("postgresql://postgres@127.0.0.1:5432", repr=False)
    prefix: str = "housing"       # database names: <prefix>_mlflow, <prefix>_optuna
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    folder: Path | None = Field(None, validation_alias="HOUSING_STACK_DIR")
    optuna_password: str | None = Field(None, repr=False)  # where the server asks for one

    @classmethod
    def from_env(cls, root: Path | None = None) -> Stack:
        """The environment's stack; its folder defaults to the workspace's .stack/."""
        stack = cls()
        if stack.folder is not None:
            return stack
        return stack.model_copy(update={"folder": (root or workspace_root()) / ".stack"})

    def database_url(self, name: str) -> str:
        """The admin URL of one of the stack's databases (the MLflow server's)."""
        return f"{self.postgres.rstrip('/')}/{self.prefix}_{name}"

    @property
    def optuna_role(self) -> str:
        return f"{self.prefix}_optuna"

    @property
    def optuna_url(self) -> str:
        """Optuna's storage: its own role, on its own database."""
        from urllib.parse import quote, urlsplit

        admin = urlsplit(self.postgres)
        password = self.optuna_password
        user = quote(self.optuna_role) + (f":{quote(password, safe='')}" if password else "")
        host = admin.hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        port = f":{admin.port}" if admin.port else ""
        return f"{admin.scheme}://{user}@{host}{port}/{self.prefix}_optuna"

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def artifacts(self) -> Path:
        return self.folder / "artifacts"

    @property
    def remote(self) -> Path:
        return self.folder / "dvc-remote"

    @property
    def pid_file(self) -> Path:
        return self.folder / "mlflow-server.pid"

    def env(self) -> dict[str, str]:
        """What a client sets to use the stack."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri, "OPTUNA_STORAGE": self.optuna_url}


def healthy(stack: Stack, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.tracking_uri}/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def server_pid(stack: Stack) -> int | None:
    """The pid of the server this stack started, if that process is alive."""
    try:
        pid = int(stack.pid_file.read_text())
        with contextlib.suppress(ChildProcessError):  # not this process's child
            # A server this process started (up() called in-process) and that has exited
            # stays a zombie, which signal 0 still finds, until it is reaped here.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return None
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def start_server(stack: Stack) -> int:
    """Start `mlflow server` in its own session (it outlives this command)."""
    stack.artifacts.mkdir(parents=True, exist_ok=True)
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow if mlflow.exists() else "mlflow"), "server",
           "--artifacts-destination", str(stack.artifacts), "--serve-artifacts",
           "--host", stack.host, "--port", str(stack.port), "--workers", "2"]
    # The backend URI holds the database password: the environment carries it (argv is
    # readable by every user through ps). No telemetry; no job runners (MLflow 3 starts a
    # pool of huey consumers that poll all the time, for GenAI jobs this project never
    # submits).
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": stack.database_url("mlflow"),
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(stack.folder / "mlflow-server.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, cwd=stack.folder)
    stack.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}; see "
                               f"{stack.folder / 'mlflow-server.log'}")
        if healthy(stack):
            return proc.pid
        time.sleep(0.5)
    stop_server(stack)
    raise RuntimeError(f"mlflow server did not answer /health within {STARTUP_SECONDS} s")


def stop_server(stack: Stack, timeout: float = 30) -> bool:
    """SIGTERM the server's process group and wait; True if one was running."""
    pid = server_pid(stack)
    if pid is None:
        stack.pid_file.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server_pid(stack) is not None:
        time.sleep(0.2)
    if server_pid(stack) is not None:
        os.killpg(pid, signal.SIGKILL)
    stack.pid_file.unlink(missing_ok=True)
    return True


def configure_remote(remote: Path | str, root: Path) -> None:
    """``remote`` as the workspace's default DVC remote (in .dvc/config.local), with
    ``verify``: DVC hashes each object it pulls and refuses one that does not match the
    hash in dvc.lock, so what the remote holds is trusted only as far as git is."""
    if isinstance(remote, Path):
        remote.mkdir(parents=True, exist_ok=True)
    for command in (["remote", "add", "--local", "--force", "-d", "team", str(remote)],
                    ["remote", "modify", "--local", "team", "verify", "true"]):
        subprocess.run(["dvc", *command], cwd=root, check=True, capture_output=True)


# The stack runs MLflow's server (the full mlflow distribution; the runtime set holds only
# mlflow-skinny, its client) and talks to PostgreSQL: both come with the team set.
TEAM_PACKAGES = ("mlflow", "psycopg")


def missing_team_packages() -> list[str]:
    """The team set's packages this environment lacks."""
    import importlib.metadata

    missing = []
    for name in TEAM_PACKAGES:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def up(stack: Stack, root: Path) -> dict:
    if missing := missing_team_packages():
        raise RuntimeError(f"the team stack needs the team set, and {', '.join(missing)} "
                           "is not installed: run `make install-team` "
                           "(requirements-team.txt)")
    stack.folder.mkdir(parents=True, exist_ok=True)
    create_databases(stack)
    if healthy(stack):
        logger.info("mlflow server already answers at %s", stack.tracking_uri)
    else:
        start_server(stack)
        logger.info("mlflow server up at %s", stack.tracking_uri)
    if (root / ".dvc").is_dir():
        configure_remote(stack.remote, root)
    else:
        logger.info("%s is no DVC workspace: no DVC remote configured", root)
    return status(stack)


def status(stack: Stack) -> dict:
    from housing.stores import StoreError

    try:
        dbs = databases(stack)
        postgres = "up"
    except StoreError as err:
        dbs, postgres = {}, f"unreachable: {err}"
    return {"postgres": postgres, "databases": dbs,
            "mlflow_server": {"uri": stack.tracking_uri, "healthy": healthy(stack),
                              "pid": server_pid(stack)},
            "dvc_remote": str(stack.remote) if stack.remote.is_dir() else None,
            "env": {k: redact_url(v) for k, v in stack.env().items()}}


def down(stack: Stack, *, purge: bool = False) -> dict:
    stopped = stop_server(stack)
    if purge:
        drop_databases(stack)
        shutil.rmtree(stack.folder, ignore_errors=True)
    return {"stopped_server": stopped, "purged": purge}


def run(action: str, *, purge: bool = False) -> int:
    """The CLI: print the result as JSON, and the variables a client exports."""
    root = workspace_root()
    stack = Stack.from_env(root)
    if action == "up":
        result = up(stack, root)
    elif action == "down":
        result = down(stack, purge=purge)
    else:
        result = status(stack)
    print(json.dumps(result, indent=2))
    if action != "down":
        # A password set in HOUSING_STACK_OPTUNA_PASSWORD shows as ***: put it back there.
        print("\n".join(f"export {k}={redact_url(v)}" for k, v in stack.env().items()),
              file=sys.stderr)
    healthy_stack = result.get("mlflow_server", {}).get("healthy", True)
    return 0 if action == "down" or healthy_stack else 1
