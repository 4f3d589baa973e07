"""Preflight checks of the shared stores: a wrong URL, an unreachable server or database,
or wrong credentials fail within seconds with an error that names the store, before a
stage does any work (and so before it writes anything)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from housing.environment import tool_environment

CONNECT_TIMEOUT_SECONDS = 5


# The user-information part (user:password@) of every URL in a text, up to the URL's last
# "@": a password may hold an unencoded "/" or "?" (a path's own "@" is redacted with it).
_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"]*@")
# A credential passed as a query parameter (libpq's ?password=, a token in a URL).
_QUERY_SECRET = re.compile(
    r"([?&](?:password|passwd|pwd|secret|token|access_token|api_key|sslpassword)=)"
    r"[^&#\s'\"]*", re.IGNORECASE)


def redact_url(text: str) -> str:
    """``text`` (a storage URL, or a message that holds URLs, such as an exception's) with
    every URL's credentials replaced by ``***``: fit for a log, an answer or a page."""
    return _QUERY_SECRET.sub(r"\1***", _CREDENTIALS.sub(r"\1***@", str(text)))


class StoreError(RuntimeError):
    """A store is misconfigured or unreachable; the message names it."""


def check_database(url: str, what: str) -> None:
    """Connect once (with a short timeout) to an SQLAlchemy database URL."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url, **engine_kwargs(url))
    except (sqlalchemy.exc.ArgumentError, ImportError, ValueError) as err:
        raise StoreError(f"{what} {redact_url(url)}: not a usable database URL ({err})") from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise StoreError(f"{what} {redact_url(url)} is unreachable or refused the connection: "
                         f"{reason}") from None
    finally:
        engine.dispose()


def tracking_request(url: str) -> urllib.request.Request:
    """A request to an MLflow tracking server, with MLflow's own bearer token
    (MLFLOW_TRACKING_TOKEN) when one is set."""
    request = urllib.request.Request(url)
    token = tool_environment().mlflow_tracking_token
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    return request


def check_tracking_server(uri: str) -> None:
    """GET the MLflow server's /health."""
    request = tracking_request(f"{uri.rstrip('/')}/health")
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as err:
        raise StoreError(f"MLflow tracking server {redact_url(uri)} answered {err.code} to "
                         f"/health: {err.read()[:200]!r}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise StoreError(f"MLflow tracking server {redact_url(uri)} is unreachable: {reason}") \
            from None


def check_tracking(uri: str) -> None:
    """The MLflow tracking store: a server over HTTP, or a database (SQLite needs none)."""
    if uri.startswith(("http://", "https://")):
        check_tracking_server(uri)
    elif "://" in uri and not uri.startswith(("sqlite:", "file:")):
        check_database(uri, "MLflow tracking store")


def check_optuna(url: str) -> None:
    """The Optuna storage (an SQLAlchemy URL)."""
    if url.startswith("sqlite:"):
        return  # a file beside the workspace: created on first use
    check_database(url, "Optuna storage")


def engine_kwargs(url: str) -> dict:
    """SQLAlchemy engine options: a short connect timeout where the driver takes one."""
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}}
    return {}
