"""Safe defaults: the Host check, refusing an open service on the network, Origin checks
on form posts, no-store, short and revocable dashboard sessions, and limits on key
guesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from housing.deployment.sessions import SessionStore
from housing.deployment.settings import Settings
from tests.security.conftest import API_KEY, ROW, post

SAME = {"Origin": "http://localhost"}


def test_a_foreign_host_header_is_refused(make_client):
    """DNS rebinding: a page on evil.example resolves its name to 127.0.0.1; the browser
    then sends Host: evil.example, which a loopback service does not serve."""
    _, client = make_client()
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"Host": "evil.example"}).status_code == 400
    assert post(client, "/predict", ROW, headers={"Host": "evil.example:8000"}).status_code \
        == 400
    assert client.get("/health", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_trusted_hosts_follow_the_bind(monkeypatch):
    monkeypatch.setenv("HOUSING_API_KEY", API_KEY)
    for bind, hosts in (("127.0.0.1:8000", ("127.0.0.1", "localhost")),
                        ("10.1.2.3:8000", ("10.1.2.3",)), ("0.0.0.0:8000", None)):
        monkeypatch.setenv("HOUSING_BIND", bind)
        assert Settings.from_env().trusted_hosts == hosts
    monkeypatch.setenv("HOUSING_TRUSTED_HOSTS", "housing.example.org, .internal")
    assert Settings.from_env().trusted_hosts == ("housing.example.org", ".internal")


def test_a_network_bind_without_a_key_refuses_to_start(monkeypatch):
    monkeypatch.delenv("HOUSING_API_KEY", raising=False)
    monkeypatch.setenv("HOUSING_BIND", "0.0.0.0:8000")
    with pytest.raises(ValueError, match="HOUSING_API_KEY is not set"):
        Settings.from_env()
    monkeypatch.setenv("HOUSING_OPEN", "1")  # on purpose
    assert Settings.from_env().api_key is None
    monkeypatch.delenv("HOUSING_OPEN")
    monkeypatch.setenv("HOUSING_API_KEY", API_KEY)
    assert Settings.from_env().api_key == API_KEY


@pytest.mark.slow
def test_gunicorn_exits_with_the_reason_on_an_open_network_bind(repo_root, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HOUSING_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(repo_root / "gunicorn.conf.py"),
         "housing.deployment.app:create_app()"], cwd=tmp_path, capture_output=True,
        text=True, timeout=120, env={**env, "HOUSING_BIND": "0.0.0.0:0",
                                     "WEB_CONCURRENCY": "1", "MLFLOW_TRACKING_URI":
                                     f"sqlite:///{tmp_path / 'mlflow.db'}"})
    assert result.returncode != 0
    assert "HOUSING_API_KEY is not set" in result.stdout + result.stderr


def test_form_posts_from_another_origin_are_refused(make_client):
    _, client = make_client(api_key=API_KEY)
    form = {"api_key": API_KEY}
    for headers in ({"Origin": "http://127.0.0.1:5000"},      # MLflow's UI beside it
                    {"Origin": "http://evil.example"}, {}, {"Referer": "http://x.test/"}):
        response = client.post("/ui/login", data=form, headers=headers)
        assert response.status_code == 403, headers
    assert client.post("/ui/login", data=form, headers=SAME).status_code == 303
    values = {f: str(v) for f, v in ROW.items()}
    assert client.post("/ui/predict", data=values, headers={"Origin": "http://evil.example"}
                       ).status_code == 403
    assert client.post("/ui/predict", data=values, headers=SAME).status_code == 200


def test_answers_and_pages_are_not_stored(make_client):
    _, client = make_client(api_key=API_KEY)
    key = {"X-API-Key": API_KEY}
    for response in (client.get("/model", headers=key), client.get("/", headers=key),
                     post(client, "/predict", ROW, headers=key), client.get("/ui/login")):
        assert response.headers["Cache-Control"] == "no-store"


def test_logout_ends_the_session_for_every_copy_of_the_cookie(make_client):
    _, client = make_client(api_key=API_KEY)
    _, thief = make_client(api_key=API_KEY)
    assert client.post("/ui/login", data={"api_key": API_KEY}, headers=SAME).status_code == 303
    cookie = client.get_cookie("housing_session")
    assert cookie is not None and cookie.expires is not None  # not a 31-day default
    thief.set_cookie("housing_session", cookie.value)
    assert thief.get("/model").status_code == 200
    assert client.post("/ui/logout", headers=SAME).status_code == 303
    assert thief.get("/model").status_code == 401  # the copy is worthless now
    assert thief.get("/").status_code == 303


def test_a_session_ends_after_its_lifetime(tmp_path):
    store = SessionStore(tmp_path / "sessions.db", lifetime_seconds=0.3)
    session = store.start()
    assert store.valid(session) and not store.valid("made-up")
    time.sleep(0.4)
    assert not store.valid(session)
    assert (tmp_path / "sessions.db").stat().st_mode & 0o077 == 0
    assert session not in (tmp_path / "sessions.db").read_bytes().decode("latin-1")


def test_key_guesses_are_limited_and_the_right_key_always_passes(make_client):
    """Ten wrong keys a minute from one address are answered 429 after that; the right
    key, from the same address (every client behind one proxy), still passes."""
    _, client = make_client(api_key=API_KEY)
    for _ in range(10):
        assert client.get("/model", headers={"X-API-Key": "guess"}).status_code == 401
    assert client.get("/model", headers={"X-API-Key": "guess"}).status_code == 429
    assert client.get("/model", headers={"X-API-Key": API_KEY}).status_code == 200
    for _ in range(10):
        client.post("/ui/login", data={"api_key": "guess"}, headers=SAME)
    assert client.post("/ui/login", data={"api_key": "guess"}, headers=SAME).status_code == 429
    assert client.post("/ui/login", data={"api_key": API_KEY}, headers=SAME).status_code == 303


def test_behind_a_trusted_proxy_the_limiter_counts_each_client(make_client):
    """With HOUSING_PROXY_HOPS=1 the address is the proxy's X-Forwarded-For entry: one
    client's guesses do not lock out another. Without it the header is ignored, so a
    client cannot pick a fresh address per guess."""
    _, proxied = make_client(api_key=API_KEY, proxy_hops=1)

    def guess(client, source: str) -> int:
        return client.get("/model", headers={"X-API-Key": "guess",
                                             "X-Forwarded-For": source}).status_code

    assert [guess(proxied, "203.0.113.7") for _ in range(11)][-1] == 429
    assert guess(proxied, "198.51.100.2") == 401
    _, direct = make_client(api_key=API_KEY)
    assert [guess(direct, f"203.0.113.{i}") for i in range(11)][-1] == 429


