"""Two replicas of the service, each a real gunicorn in its own working directory, share
one registry (a real `mlflow server` on PostgreSQL with its artifacts on S3) and one
prediction log on S3 (`rclone serve s3`), all started by `housing stack up`'s code.

Under traffic to both: a promotion reaches both with no failed request, the S3 server
stopped for 10 s loses no row, SIGTERM on one replica still stores its queued rows, and
the monitor's copy of the log counts every answered row once.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from housing.data.log_objects import sync
from housing.data.production import read_prediction_log
from housing.dev import stack as team
from housing.dev.servers import free_port
from housing.log_store import LogStore

pytestmark = pytest.mark.slow

POSTGRES = os.environ.get("HOUSING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
MODEL = "california-housing"
POLL_SECONDS = 1


def post(base: str, body: list[dict]) -> tuple[int, dict]:
    """A production client's request (not marked as test traffic: the monitor counts it)."""
    request = urllib.request.Request(f"{base}/predict", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, {}


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class Traffic:
    """Client threads posting to one replica until stopped: the answered rows and the
    version each answer names, and every failure."""

    def __init__(self, base: str, body: list[dict], threads: int = 2):
        self.base, self.body = base, body
        self.answered_rows, self.versions, self.failures = 0, [], []
        self._stop, self._lock = threading.Event(), threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, answer = post(self.base, self.body)
            except OSError as err:
                status, answer = 0, {"error": repr(err)}
            with self._lock:
                if status == 200:
                    self.answered_rows += len(answer["predictions"])
                    self.versions.append(answer["model"]["version"])
                else:
                    self.failures.append((status, answer))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, register_small_model):
    import psycopg

    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as err:
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {str(err).strip().splitlines()[0]}")
    folder = tmp_path_factory.mktemp("replicas")
    stack = team.Stack(postgres=POSTGRES, prefix=f"r{uuid.uuid4().hex[:10]}", port=free_port(),
                       s3_port=free_port(), folder=folder / "stack")
    team.up(stack, folder)
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", *stack.s3_env())}
    os.environ.update({"MLFLOW_TRACKING_URI": stack.tracking_uri, **stack.s3_env()})
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        register_small_model(folder, max_iter=30)  # version 1, in production
        register_small_model(folder, max_iter=80)  # version 2
        yield stack
    finally:
        os.chdir(cwd)
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.update({key: value})
        team.down(stack, purge=True)


def test_two_replicas_share_the_registry_and_the_log(stack, gunicorn_service, tmp_path,
                                                     district):
    from mlflow.tracking import MlflowClient

    registry = MlflowClient(stack.tracking_uri)
    registry.set_registered_model_alias(MODEL, "production", "1")
    env = {**stack.s3_env(), "MLFLOW_TRACKING_URI": stack.tracking_uri,
           "HOUSING_PREDICTION_LOG_URL": stack.log_url,
           "HOUSING_PREDICTION_LOG_SEGMENT_SECONDS": "1",
           "HOUSING_MODEL_POLL_SECONDS": str(POLL_SECONDS), "HOUSING_ACCESS_LOG": "off"}
    dirs = {name: tmp_path / name for name in ("a", "b")}
    for folder in dirs.values():
        folder.mkdir()
    body = [district] * 3
    spools = {name: folder / "spool" for name, folder in dirs.items()}
    with gunicorn_service(dirs["a"], {**env, "HOUSING_PREDICTION_LOG_DIR": str(spools["a"])}
                          ) as (base_a, proc_a, _), \
            gunicorn_service(dirs["b"], {**env, "HOUSING_PREDICTION_LOG_DIR": str(spools["b"])}
                             ) as (base_b, _, _):
        traffic = {"a": Traffic(base_a, body), "b": Traffic(base_b, body)}
        try:
            # a promotion reaches both replicas, with no failed request on either
            registry.set_registered_model_alias(MODEL, "production", "2")
            deadline = time.monotonic() + 60  # a hang guard, not a timing claim
            while not all(t.versions and t.versions[-1] == "2" for t in traffic.values()):
                assert time.monotonic() < deadline, "a replica never served version 2"
                time.sleep(0.2)
            # /model answers from whichever worker takes it: each polls on its own
            while not all(get(f"{base}/model")["version"] == "2" for base in (base_a, base_b)):
                assert time.monotonic() < deadline, "a worker never loaded version 2"
                time.sleep(0.2)

            # the object store stops for 10 s under traffic: rows wait, then arrive
            team.s3_server(stack).stop()
            time.sleep(10)
            waiting = get(f"{base_b}/model")["prediction_log"]
            team.start_s3(stack)
            assert waiting["store"]["failures"] > 0 or waiting["store"]["waiting_rows"] > 0

            # SIGTERM on replica a (no more traffic to it): its queued rows reach S3
            traffic["a"].stop()
            proc_a.send_signal(15)
            proc_a.wait(timeout=60)
            assert list(spools["a"].glob("*.jsonl")) == []
        finally:
            for t in traffic.values():
                t.stop()
    answered = sum(t.answered_rows for t in traffic.values())
    assert answered > 0 and [f for t in traffic.values() for f in t.failures] == []
    assert all(v in ("1", "2") for t in traffic.values() for v in t.versions)
    assert not list(spools["b"].glob("*.jsonl"))  # b drained on its SIGTERM too

    # the monitor's copy: every answered row, once
    copies = tmp_path / "monitor" / "predictions"
    listed = sync(LogStore.parse(stack.log_url), copies / "store")
    frame, bad = read_prediction_log(copies)
    assert bad == 0 and frame["record_id"].is_unique
    assert len(frame) == answered
    assert listed["new"] == listed["listed"] > 2
    assert sync(LogStore.parse(stack.log_url), copies / "store")["new"] == 0
