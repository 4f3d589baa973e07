"""The service's settings: every ``HOUSING_*`` variable the app and gunicorn read, parsed
once by pydantic-settings (gunicorn.conf.py builds the same object).

A variable that is unset or empty takes its default; a bad value stops the service at
start with the variable's name and what is wrong with it (never the API key's value).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode, SettingsConfigDict

from housing.config import MODEL_NAME, PREDICTIONS_DIR, workspace_root
from housing.environment import EnvSettings, tool_environment
from housing.log_store import LogStore
from housing.models.gate import PRODUCTION

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")  # Werkzeug matches no IPv6 literal
MIN_KEY_LENGTH = 32  # beyond loopback: a key that guessing at any rate cannot find
OFF = frozenset({"off", "false", "0", "no", "none"})


def bind_host(bind: str) -> str:
    """The host part of a gunicorn bind address (``host:port``, ``[v6]:port``, ``unix:``)."""
    if bind.startswith("unix:"):
        return "unix"
    host = bind.rsplit(":", 1)[0] if bind.count(":") == 1 or bind.startswith("[") else bind
    return host.strip("[]") or "0.0.0.0"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "unix"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def implied_hosts(bind: str) -> tuple[str, ...] | None:
    """The Host headers a bind implies: the loopback names for a loopback bind (so a page
    cannot reach the service through DNS rebinding), the address itself for one address,
    any (None) for a wildcard bind."""
    host = bind_host(bind)
    if is_loopback(host):
        return LOOPBACK_HOSTS
    return None if host in ("0.0.0.0", "::") else (host,)


def user_tree_cache() -> Path:
    base = tool_environment().xdg_cache_home or Path.home() / ".cache"
    return Path(base) / "housing" / "trees"


def user_state_dir() -> Path:
    base = tool_environment().xdg_state_home or Path.home() / ".local" / "state"
    return Path(base) / "housing" / "service"


class Settings(EnvSettings):
    """The service's settings; ``Settings.from_env()`` reads them from the environment."""

    model_config = SettingsConfigDict(env_prefix="HOUSING_")

    model_name: str = MODEL_NAME
    model_alias: str = PRODUCTION
    api_key: str | None = Field(None, repr=False)
    open: bool = False                       # serve without a key beyond loopback, on purpose
    proxy_hops: NonNegativeInt = 0           # trusted proxies in front: X-Forwarded-For hops
    max_batch: PositiveInt = 10_000
    max_body_bytes: PositiveInt = 8 * 1024 * 1024
    prediction_log: bool = True
    prediction_log_dir: Path | None = None   # resolved: None when the log is off
    # s3://bucket/prefix: the segments go to an object store (housing.log_store)
    prediction_log_url: str | None = None
    prediction_log_segment_rows: PositiveInt = 10_000
    prediction_log_segment_seconds: PositiveFloat = 10.0
    model_poll_seconds: NonNegativeInt = 60  # 0: only reload on SIGHUP
    # The share of requests the registry's challenger also scores, off the request path
    # (deployment.shadow); 0: no challenger is loaded.
    shadow_share: Annotated[float, Field(ge=0, le=1)] = 1.0
    workspace: Path = Field(default_factory=workspace_root)  # the monitor's outputs
    secure_cookies: bool = False             # mark the session cookie Secure (behind TLS)
    tree_cache: Path | None = Field(default_factory=user_tree_cache)  # None: not compiled
    state_dir: Path | None = Field(default_factory=user_state_dir)  # None: in memory only
    bind: str = "127.0.0.1:8000"
    trusted_hosts: Annotated[tuple[str, ...] | None, NoDecode] = LOOPBACK_HOSTS  # None: any
    session_minutes: PositiveInt = 480       # a dashboard login lasts this long at most
    session_dir: Path | None = None          # the dashboard's sessions; None: the workspace's
    metrics_dir: Path | None = None          # /metrics' per-worker files; None: a new temp dir
    # gunicorn's own settings (gunicorn.conf.py)
    workers: PositiveInt = Field(default_factory=os.cpu_count,
                                 validation_alias="WEB_CONCURRENCY")
    worker_class: Literal["sync", "gthread"] = "gthread"
    threads: PositiveInt = 64                # gthread only: slow sockets each hold one
    worker_timeout: PositiveInt = 30
    max_requests: NonNegativeInt = 0         # retire a worker after this many; 0: never
    access_log: str = "-"                    # "-" (stdout), a file, or "off"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @field_validator("tree_cache", "state_dir", mode="before")
    @classmethod
    def _tree_cache(cls, value: Any) -> Any:
        if isinstance(value, str):
            return None if value.strip().lower() in OFF else value.strip()
        return value

    @field_validator("prediction_log_url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return LogStore.parse(value).url if value else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: Any) -> Any:
        """Trusted hosts from HOUSING_TRUSTED_HOSTS (comma-separated, "*" for any) or the
        bind; the prediction log's directory unless it is off."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        hosts = data.get("trusted_hosts")
        if hosts is None and "trusted_hosts" not in data:
            data["trusted_hosts"] = implied_hosts(str(data.get("bind", "127.0.0.1:8000")))
        elif isinstance(hosts, str):
            names = tuple(h.strip() for h in hosts.split(",") if h.strip())
            data["trusted_hosts"] = None if "*" in names else names
        return data

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.api_key and not is_loopback(bind_host(self.bind)) and not self.open:
            raise ValueError(
                f"HOUSING_BIND={self.bind} is reachable from other machines and "
                "HOUSING_API_KEY is not set: set a key, bind to 127.0.0.1, or set "
                "HOUSING_OPEN=1 to serve without a key on purpose")
        if self.api_key and len(self.api_key) < MIN_KEY_LENGTH \
                and not is_loopback(bind_host(self.bind)):
            raise ValueError(
                f"HOUSING_API_KEY is shorter than {MIN_KEY_LENGTH} characters and "
                f"HOUSING_BIND={self.bind} is reachable from other machines: use a random "
                f"key of at least {MIN_KEY_LENGTH} characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')")
        return self

    @property
    def log_dir(self) -> Path | None:
        """The prediction log's directory, or None when HOUSING_PREDICTION_LOG is off."""
        if not self.prediction_log:
            return None
        return self.prediction_log_dir or self.workspace / PREDICTIONS_DIR

    @property
    def log_store(self) -> LogStore | None:
        """Where the log's segments go beyond this machine, or None (local files only)."""
        return LogStore.parse(self.prediction_log_url) if self.prediction_log_url else None

    @property
    def access_log_target(self) -> str | None:
        return None if self.access_log.strip().lower() in OFF else self.access_log.strip()
