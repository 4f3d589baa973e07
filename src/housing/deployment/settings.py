"""Deployment settings, read from the environment in one place."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from housing.config import MODEL_NAME, PREDICTIONS_DIR, workspace_root


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError as err:
        raise ValueError(f"{name} must be an integer, got '{raw}'") from err


def _tree_cache(raw: str) -> Path | None:
    """HOUSING_TREE_CACHE: a directory, "off", or unset for the user's cache directory."""
    if raw.strip().lower() in {"off", "false", "0", "no"}:
        return None
    if raw.strip():
        return Path(raw.strip())
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "housing" / "trees"


LOOPBACK_HOSTS = ("127.0.0.1", "localhost")  # Werkzeug matches no IPv6 literal


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


def trusted_hosts(raw: str, bind: str) -> tuple[str, ...] | None:
    """HOUSING_TRUSTED_HOSTS (comma-separated; "*" for any), or what the bind implies: the
    loopback names for a loopback bind (so a page cannot reach the service through DNS
    rebinding), the address itself for one address, none for a wildcard bind."""
    if raw.strip():
        hosts = tuple(h.strip() for h in raw.split(",") if h.strip())
        return None if "*" in hosts else hosts
    host = bind_host(bind)
    if is_loopback(host):
        return LOOPBACK_HOSTS
    if host in ("0.0.0.0", "::"):
        return None
    return (host,)


@dataclass(frozen=True)
class Settings:
    model_name: str = MODEL_NAME
    model_alias: str = "production"
    api_key: str | None = None
    max_batch: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    prediction_log_dir: Path | None = None   # None: the prediction log is off
    poll_seconds: int = 60                   # 0: only reload on SIGHUP
    workspace: Path = Path(".")              # where the dashboard reads the monitor's outputs
    secure_cookies: bool = False             # mark the session cookie Secure (behind TLS)
    tree_cache: Path | None = None           # lleaves libraries; None: trees not compiled
    bind: str = "127.0.0.1:8000"             # gunicorn's bind (HOUSING_BIND)
    trusted_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS  # Host headers served; None: any
    session_minutes: int = 480               # a dashboard login lasts this long at most
    session_dir: Path | None = None          # the dashboard's sessions; None: the workspace's

    @classmethod
    def from_env(cls) -> Settings:
        """HOUSING_* variables; the MLflow store comes from MLFLOW_TRACKING_URI (see config)."""
        log_setting = os.environ.get("HOUSING_PREDICTION_LOG", "on").strip().lower()
        log_dir = None
        if log_setting not in {"off", "false", "0", "no"}:
            log_dir = Path(os.environ.get("HOUSING_PREDICTION_LOG_DIR")
                           or workspace_root() / PREDICTIONS_DIR)
        settings = cls(
            model_name=os.environ.get("HOUSING_MODEL_NAME", MODEL_NAME),
            model_alias=os.environ.get("HOUSING_MODEL_ALIAS", "production"),
            api_key=os.environ.get("HOUSING_API_KEY") or None,
            max_batch=_int("HOUSING_MAX_BATCH", 10_000),
            max_body_bytes=_int("HOUSING_MAX_BODY_BYTES", 8 * 1024 * 1024),
            prediction_log_dir=log_dir,
            poll_seconds=_int("HOUSING_MODEL_POLL_SECONDS", 60),
            workspace=Path(os.environ.get("HOUSING_WORKSPACE") or workspace_root()),
            secure_cookies=os.environ.get("HOUSING_SECURE_COOKIES", "").strip().lower()
            in {"1", "true", "yes", "on"},
            tree_cache=_tree_cache(os.environ.get("HOUSING_TREE_CACHE", "")),
            bind=(bind := os.environ.get("HOUSING_BIND", "127.0.0.1:8000")),
            trusted_hosts=trusted_hosts(os.environ.get("HOUSING_TRUSTED_HOSTS", ""), bind),
            session_minutes=_int("HOUSING_SESSION_MINUTES", 480),
            session_dir=Path(os.environ["HOUSING_SESSION_DIR"])
            if os.environ.get("HOUSING_SESSION_DIR") else None,
        )
        if settings.max_batch < 1 or settings.max_body_bytes < 1 or settings.poll_seconds < 0 \
                or settings.session_minutes < 1:
            raise ValueError("HOUSING_MAX_BATCH, HOUSING_MAX_BODY_BYTES and "
                             "HOUSING_SESSION_MINUTES must be positive, "
                             "HOUSING_MODEL_POLL_SECONDS non-negative")
        open_ok = os.environ.get("HOUSING_OPEN", "").strip().lower() in {"1", "true", "yes"}
        if not settings.api_key and not is_loopback(bind_host(bind)) and not open_ok:
            raise ValueError(f"HOUSING_BIND={bind} is reachable from other machines and "
                             "HOUSING_API_KEY is not set: set a key, bind to 127.0.0.1, or "
                             "set HOUSING_OPEN=1 to serve without a key on purpose")
        return settings
