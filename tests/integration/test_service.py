"""Real gunicorn on a free loopback port: traffic, a production alias move and SIGHUP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def call(url: str, body=None, timeout: float = 10.0) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json",
                                                          "X-Housing-Traffic": "test"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def send_until(stop: threading.Event, url: str, body, results: list[tuple[int, str]],
               seconds: float, timeout: float) -> None:
    """POST ``body`` until ``stop`` is set, at most ``seconds`` (a cap on the count ran out
    before a swap once the service answered 1,600 requests/s); each answer's status and the
    version that answered go to ``results``, a failed connection as status 0."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            status, answer = call(url, body, timeout=timeout)
            results.append((status, answer.get("model", {}).get("version", "")))
        except OSError as err:
            results.append((0, repr(err)))


@pytest.fixture(scope="module")
def service_store(tmp_path_factory, register_small_model, store_in):
    """A store of its own (this module moves aliases), with version 1 in production."""
    workspace = tmp_path_factory.mktemp("service")
    with store_in(workspace) as uri:
        register_small_model(workspace, max_iter=30)
        yield workspace, uri


@pytest.fixture(scope="module")
def server(service_store, tmp_path_factory, gunicorn_service):
    workspace, uri = service_store
    log_dir = tmp_path_factory.mktemp("predictions")
    with gunicorn_service(workspace, {
            "MLFLOW_TRACKING_URI": uri, "HOUSING_PREDICTION_LOG_DIR": str(log_dir),
            "HOUSING_ACCESS_LOG": str(log_dir / "access.log")}) as (base, proc, server_log):
        yield base, proc, log_dir, server_log


def test_serves_predictions_and_logs_them(server, district):
    base, _, log_dir, _ = server
    status, body = call(f"{base}/predict", [district, district])
    assert status == 200 and body["model"]["version"] == "1"
    status, body = call(f"{base}/predict", {**district, "MedInc": None})
    assert status == 422 and body["details"][0]["field"] == "MedInc"
    assert call(f"{base}/health")[0] == 200
    deadline = time.monotonic() + 10  # the writer thread appends within moments
    while time.monotonic() < deadline:
        logged = [json.loads(line) for path in Path(log_dir).glob("predictions-*.jsonl")
                  for line in path.read_text().splitlines()]
        if len(logged) >= 2:
            break
        time.sleep(0.1)
    assert len(logged) >= 2 and {line["row"] for line in logged} >= {0, 1}


def test_served_predictions_equal_the_registered_model_on_the_test_set(server, service_store):
    """Every test-set row through HTTP (compiled trees) against the registered model's own
    predict."""
    import numpy as np
    import pandas as pd

    from housing.config import FEATURES
    from housing.deployment.predict.compiled import TOLERANCE
    from housing.registry import store

    base, _, _, _ = server
    workspace, _ = service_store
    deadline = time.monotonic() + 300  # the workers move to lleaves once it is compiled
    while (runtime := call(f"{base}/model")[1]["runtime"])["trees"] != ["lleaves"]:
        assert runtime["name"] == "compiled" and time.monotonic() < deadline, runtime
        time.sleep(0.5)
    test = pd.read_parquet(workspace / "test.parquet")[list(FEATURES)]
    served = []
    for start in range(0, len(test), 500):
        chunk = test.iloc[start:start + 500]
        status, body = call(f"{base}/invocations", {"dataframe_split": {
            "columns": list(FEATURES), "data": chunk.to_numpy().tolist()}})
        assert status == 200, body
        served.extend(body["predictions"])
    expected = store.load_model("california-housing", "1").predict(test)
    assert len(served) == len(test) == 4128
    np.testing.assert_allclose(served, expected, rtol=0, atol=TOLERANCE)


def test_alias_move_and_sighup_swap_without_a_failed_request(server, service_store,
                                                             register_small_model, district):
    from mlflow.tracking import MlflowClient

    base, proc, _, _ = server
    workspace, uri = service_store
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    threads = [threading.Thread(target=send_until, args=(stop, f"{base}/predict", district,
                                                         results, 120, 30))
               for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        cwd = os.getcwd()
        os.chdir(workspace)
        try:
            register_small_model(workspace, max_iter=80)
        finally:
            os.chdir(cwd)
        client = MlflowClient(tracking_uri=uri)
        client.set_registered_model_alias("california-housing", "production", "2")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            recent = results[-20:]
            if len(recent) == 20 and all(v == "2" for _, v in recent):
                break
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)

    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:5]
    versions = [v for _, v in results]
    assert "1" in versions and versions[-1] == "2"
    assert call(f"{base}/model")[1]["version"] == "2"


def test_a_crashing_and_a_corrupt_version_are_refused_under_load(server, service_store,
                                                                publish_tampered,
                                                                district):
    """8 clients send traffic while a version whose predict kills its process, then a
    truncated one, are each promoted and followed by SIGHUP: no request fails, the
    version before them keeps answering, and /model names each refusal."""
    base, proc, _, _ = server
    workspace, _ = service_store
    serving = call(f"{base}/model")[1]["version"]
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    reasons: dict[str, str] = {}

    def refused_everywhere(version: str) -> bool:
        """Ten answers in a row (from either worker) name the refusal."""
        try:
            for _ in range(10):
                seen = {r["version"]: r["reason"]
                        for r in call(f"{base}/model", timeout=60)[1]["refused"]}
                if version not in seen:
                    return False
                reasons[version] = seen[version]
            return True
        except OSError:
            return False

    threads = [threading.Thread(target=send_until, args=(stop, f"{base}/predict", district,
                                                         results, 240, 60))
               for _ in range(8)]
    for t in threads:
        t.start()
    refused = []
    try:
        for how in ("crashes", "truncated"):
            cwd = os.getcwd()
            os.chdir(workspace)
            try:
                bad = publish_tampered(workspace, how)
            finally:
                os.chdir(cwd)
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 120
            while not refused_everywhere(bad) and time.monotonic() < deadline:
                time.sleep(0.5)
            refused.append((bad, how))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=90)
    assert proc.poll() is None
    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:5]
    assert len(results) > 100 and {v for _, v in results} == {serving}
    assert call(f"{base}/model")[1]["version"] == serving
    (crashed, _), (truncated, _) = refused
    assert "killed the probe process (SIGSEGV)" in reasons[crashed]
    assert "zip" in reasons[truncated].lower()


def test_fifty_idle_and_trickling_sockets_do_not_stall_other_clients(server, district):
    """25 sockets that never send and 25 that send a header a few bytes at a time stay
    open while other clients call /health and /predict: each answer comes, none waits
    for a socket timeout, and no worker is killed for it."""
    import socket

    base, proc, _, server_log = server
    port = int(base.rsplit(":", 1)[1])
    stop = threading.Event()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(25)]
    trickling = [socket.create_connection(("127.0.0.1", port)) for _ in range(25)]

    def trickle() -> None:
        header = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 400
        for i in range(len(header)):
            for sock in trickling:
                with contextlib.suppress(OSError):
                    sock.send(header[i:i + 1])
            if stop.wait(0.2):
                return

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        time.sleep(1.0)  # every slow socket is accepted and waiting
        answers = [call(f"{base}/health", timeout=10)[0] for _ in range(10)]
        answers += [call(f"{base}/predict", district, timeout=10)[0] for _ in range(10)]
    finally:
        stop.set()
        sender.join(timeout=10)
        for sock in idle + trickling:
            sock.close()
    assert answers == [200] * 20
    assert proc.poll() is None
    assert "WORKER TIMEOUT" not in server_log.read_text()
