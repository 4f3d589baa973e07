"""The security suite: hostile clients, files and settings against the real service code
(a real MLflow store, the Flask app, gunicorn where a test needs processes)."""

from __future__ import annotations

import json

import pytest

ROW = {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
       "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23}
API_KEY = "k-" + "7" * 30


@pytest.fixture(scope="package")
def security_store(tmp_path_factory, register_small_model, store_in):
    """The security suite's own MLflow store (SQLite + local artifacts) with one production
    version, registered when the suite starts: nothing an earlier test did to the shared
    stores or the environment reaches it."""
    workspace = tmp_path_factory.mktemp("security-registry")
    with store_in(workspace):
        register_small_model(workspace)
    return workspace


@pytest.fixture(scope="module")
def holder(security_store, store_in):
    """The production version of the suite's store, with MLFLOW_TRACKING_URI pointed at
    that store for the module."""
    from housing.deployment.served_model import ModelHolder

    with store_in(security_store) as uri:
        holder = ModelHolder("california-housing", "production")
        assert holder.refresh(), f"{holder.last_error} (store {uri}: {_models(security_store)})"
        yield holder


def _models(workspace) -> str:
    """What the store's SQLite file holds, read without MLflow: for a failure message."""
    import sqlite3

    db = workspace / "mlflow.db"
    if not db.exists():
        return "no mlflow.db"
    with sqlite3.connect(db) as con:
        return f"registered models {con.execute('select name from registered_models').fetchall()}"


@pytest.fixture
def make_client(holder, tmp_path):
    """make_client(**settings): a test client of the app on the real store; the
    dashboard's own origin is http://localhost."""
    from housing.deployment.app import create_app
    from housing.deployment.settings import Settings

    def make(**overrides):
        settings = Settings(**{"prediction_log_dir": tmp_path / "log", "model_poll_seconds": 0,
                               "workspace": tmp_path, **overrides})
        app = create_app(settings, holder)
        return app, app.test_client()

    return make


def post(client, path, body, **kw):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kw)


@pytest.fixture
def logged_lines(tmp_path):
    def read(app) -> list[dict]:
        app.extensions["housing"].log.close()
        return [json.loads(line) for path in (tmp_path / "log").glob("*.jsonl")
                for line in path.read_text().splitlines()]
    return read
