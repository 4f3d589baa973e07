"""Registry look-ups without importing MLflow (over a second on every no-op `dvc repro`).

An embedded SQLite store is read through MLflow's own tables, read-only; a tracking server
through MLflow's REST API; any other store through MlflowClient. Each answer equals what
MlflowClient says (tested against both).
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from housing.config import tracking_uri
from housing.connections import redact_url, tracking_request

# MLflow keeps a deleted version's row with this stage until it is purged.
_DELETED = "Deleted_Internal"
FINGERPRINT_TAG = "fingerprint"


def alias_version(name: str, alias: str, uri: str | None = None) -> int | None:
    """The version number ``alias`` names, or None."""
    uri = uri or tracking_uri()
    if uri.startswith("sqlite:///"):
        return _sqlite_one(uri, "SELECT version FROM registered_model_aliases "
                                "WHERE name = ? AND alias = ?", (name, alias))
    if uri.startswith(("http://", "https://")):
        query = urllib.parse.urlencode({"name": name, "alias": alias})
        answer = _rest_get(uri, f"registered-models/alias?{query}", "the alias look-up")
        return None if answer is None else int(answer["model_version"]["version"])
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return int(MlflowClient(uri).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def fingerprint_version(name: str, fingerprint: str, uri: str | None = None) -> int | None:
    """The newest version of ``name`` tagged with ``fingerprint``, or None."""
    uri = uri or tracking_uri()
    if uri.startswith("sqlite:///"):
        return _sqlite_one(
            uri, "SELECT MAX(CAST(t.version AS INTEGER)) FROM model_version_tags t "
                 "JOIN model_versions v ON v.name = t.name AND v.version = t.version "
                 "WHERE t.name = ? AND t.key = ? AND t.value = ? "
                 "AND COALESCE(v.current_stage, '') != ?",
            (name, FINGERPRINT_TAG, fingerprint, _DELETED))
    search = (f"name = '{filter_literal(name)}' "
              f"and tags.{FINGERPRINT_TAG} = '{filter_literal(fingerprint)}'")
    if uri.startswith(("http://", "https://")):
        query = urllib.parse.urlencode({"filter": search, "max_results": 1000})
        answer = _rest_get(uri, f"model-versions/search?{query}", "the version search")
        found = [int(v["version"]) for v in (answer or {}).get("model_versions", [])]
        return max(found, default=None)
    from mlflow.tracking import MlflowClient

    found = [int(v.version) for v in MlflowClient(uri).search_model_versions(search)]
    return max(found, default=None)


def filter_literal(value: str) -> str:
    """``value`` as it may stand between quotes in an MLflow search filter: a value that
    could end the quotes (a quote or a backslash) is refused, never spliced in."""
    if "'" in value or "\\" in value:
        raise ValueError(f"not a registry name, experiment or fingerprint: {value!r}")
    return value


# The columns of MLflow's tables that the look-ups above read.
SCHEMA = {
    "registered_model_aliases": {"name", "alias", "version"},
    "model_versions": {"name", "version", "current_stage"},
    "model_version_tags": {"name", "version", "key", "value"},
}


class SchemaError(RuntimeError):
    """MLflow's SQLite store is not laid out as the look-ups read it."""


def check_schema(conn: sqlite3.Connection, db: Path) -> bool:
    """True if the store holds MLflow's registry tables with the columns read here, False
    if MLflow has not created them yet; SchemaError naming what differs otherwise (an
    MLflow upgrade that changed them must fail loudly, never answer "no version")."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables & set(SCHEMA):
        return False
    missing = {table: sorted(columns - {row[1] for row in
                                        conn.execute(f"PRAGMA table_info({table})")})
               for table, columns in SCHEMA.items()}
    missing = {table: columns for table, columns in missing.items() if columns}
    if missing:
        raise SchemaError(f"{db}: MLflow's registry tables are not what housing.registry.lookup "
                          f"reads (missing columns: {missing}); read it through MlflowClient")
    return True


def _sqlite_one(uri: str, sql: str, args: tuple) -> int | None:
    db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    if not db.exists():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        if not check_schema(conn, db):  # a store MLflow has not initialised yet
            return None
        row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _rest_get(server: str, path: str, what: str) -> dict | None:
    """GET one of MLflow's REST endpoints; None when the model or alias does not exist."""
    request = tracking_request(f"{server.rstrip('/')}/api/2.0/mlflow/{path}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            error = json.loads(body)
        except ValueError:
            error = {}
        # No such model (404, RESOURCE_DOES_NOT_EXIST) or alias (400, "... not found")
        if err.code == 404 or error.get("error_code") == "RESOURCE_DOES_NOT_EXIST" or (
                err.code == 400 and "not found" in str(error.get("message", ""))):
            return None
        raise RuntimeError(f"MLflow tracking server {redact_url(server)} answered {err.code} "
                           f"to {what}: {body[:200]!r}") from err
    except urllib.error.URLError as err:
        raise RuntimeError(f"MLflow tracking server {redact_url(server)} is unreachable: "
                           f"{err.reason}") from err
