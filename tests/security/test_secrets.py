"""No secret leaves the process: a tracking URI with a password, and the team stack's
database password, appear in no answer, page, log line or command line."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from housing.connections import redact_url
from tests.security.conftest import API_KEY, ROW

SECRET = "s3cret-" + uuid.uuid4().hex[:8]


def fetch(url: str, *, key: str | None = None, body: dict | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_redact_url_hides_every_credential_in_a_message():
    text = (f"API request to http://alice:{SECRET}@127.0.0.1:9/api/2.0/x failed; "
            f"also postgresql+psycopg://bob:{SECRET}@db/x")
    assert SECRET not in redact_url(text) and redact_url(text).count("***@") == 2
    assert redact_url("sqlite:///a/b.db") == "sqlite:///a/b.db"


def test_the_stacks_repr_holds_no_password():
    from housing.dev.stack import Stack

    stack = Stack(postgres=f"postgresql://admin:{SECRET}@127.0.0.1:5432",
                  optuna_password=SECRET, prefix="t")
    assert SECRET not in repr(stack) and SECRET not in str(stack) and "prefix='t'" in repr(stack)


@pytest.mark.parametrize("url", [
    f"postgresql://bob:{SECRET}/with/slashes@db:5432/x",    # an unencoded "/" in a password
    f"postgresql://bob:{SECRET}?q@db/x",                    # and a "?"
    f"postgresql://db/x?sslmode=require&password={SECRET}",  # libpq's query parameter
    f"http://h/api?token={SECRET}#top", f"mysql://u@h/x?PWD={SECRET}",
], ids=["slash in the password", "question mark in it", "libpq's ?password=", "?token=",
        "?PWD="])  # ids without the secret: it differs in each xdist worker
def test_redact_url_hides_credentials_in_the_userinfo_and_the_query(url):
    assert SECRET not in redact_url(url) and "***" in redact_url(url)
    assert redact_url(url).split("://")[0] == url.split("://")[0]


@pytest.mark.slow
def test_a_tracking_password_shows_nowhere(gunicorn_service, tmp_path):
    """The registry is a dead server whose URL carries a password: the service starts
    without a model and every endpoint, page and log line answers without the secret."""
    from housing.dev.servers import free_port

    dead = free_port()  # nothing listens there
    env = {"MLFLOW_TRACKING_URI": f"http://alice:{SECRET}@127.0.0.1:{dead}",
           "HOUSING_API_KEY": API_KEY, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
           "MLFLOW_HTTP_REQUEST_TIMEOUT": "3", "HOUSING_PREDICTION_LOG_DIR": str(tmp_path)}
    with gunicorn_service(tmp_path, env, ready_path="/health") as (base, _, log_path):
        answers = [fetch(f"{base}{path}", key=key) for path in (
            "/ready", "/health", "/openapi.json") for key in (None, API_KEY)]
        answers += [fetch(f"{base}{path}", key=API_KEY) for path in (
            "/model", "/", "/ui/monitoring", "/ui/predict")]
        answers += [fetch(f"{base}/predict", key=API_KEY, body=ROW),
                    fetch(f"{base}/invocations", key=API_KEY,
                          body={"dataframe_records": [ROW]})]
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert answers[0][0] == 503 and json.loads(answers[0][1]) == {
        "ready": False, "reason": "no model loaded", "registry": "unreachable",
        "prediction_log": "ok"}
    model = json.loads(answers[6][1])
    assert answers[6][0] == 503 and "***@" in json.dumps(model)  # the cause, redacted
    for _, text in answers:
        assert SECRET not in text, text[:500]
    for _, text in (answers[0], answers[7]):  # /ready and the card: no host, no path
        assert f"127.0.0.1:{dead}" not in text and "MlflowException" not in text
    log = log_path.read_text()
    assert "cannot load" in log and SECRET not in log
    assert SECRET in env["MLFLOW_TRACKING_URI"] and SECRET not in ps


@pytest.mark.slow
def test_the_stack_keeps_its_database_password_out_of_argv_and_status(tmp_path):
    """PostgreSQL here trusts local connections, so a password in the admin URL is
    accepted and ignored: enough to see where it travels."""
    import psycopg

    from housing.connections import StoreError
    from housing.dev import stack as team
    from housing.dev.servers import free_port

    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                        connect_timeout=5).close()
    except psycopg.OperationalError as err:
        if os.environ.get("HOUSING_REQUIRE_SERVERS"):
            pytest.fail(f"no PostgreSQL: {err}")
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {err}")
    port = free_port()
    stack = team.Stack(postgres=f"postgresql://postgres:{SECRET}@127.0.0.1:5432",
                       prefix=f"s{uuid.uuid4().hex[:10]}", host="127.0.0.1", port=port,
                       folder=tmp_path / "stack")
    try:
        status = team.up(stack, tmp_path)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert status["mlflow_server"]["healthy"] and "mlflow" in ps
        assert SECRET not in ps and SECRET not in json.dumps(team.status(stack))
        assert SECRET not in (stack.folder / "mlflow-server.log").read_text()
        # Optuna's storage is its own role, which owns its database
        assert stack.optuna_url.startswith(f"postgresql://{stack.prefix}_optuna@")
        with psycopg.connect(stack.optuna_url, connect_timeout=5) as conn:
            owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                                 "WHERE datname = current_database()").fetchone()[0]
        assert owner == f"{stack.prefix}_optuna"
        unreachable = team.Stack(postgres=f"postgresql://postgres:{SECRET}@127.0.0.1:1",
                                 prefix="x", host="127.0.0.1", port=port, folder=tmp_path)
        with pytest.raises(StoreError) as caught:
            team.databases(unreachable)
        assert "***@127.0.0.1:1" in str(caught.value) and SECRET not in str(caught.value)
    finally:
        team.down(stack, purge=True)
