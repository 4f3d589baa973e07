"""Real gunicorn: the prediction log loses no row when workers are retired by
max_requests, swapped by SIGHUP, or stopped by a graceful shutdown."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from housing.dev.servers import NotReady, free_port, wait_ready

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("worker_class", ["gthread", "sync"])
def test_every_answered_row_is_logged(worker_class, registered_store, tmp_path, repo_root,
                                      district):
    port = free_port()
    log_dir = tmp_path / "predictions"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{registered_store / 'mlflow.db'}",
           "HOUSING_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
           "HOUSING_WORKER_CLASS": worker_class, "HOUSING_MAX_REQUESTS": "40",
           "HOUSING_PREDICTION_LOG_DIR": str(log_dir), "HOUSING_MODEL_POLL_SECONDS": "0",
           "HOUSING_ACCESS_LOG": "/dev/null"}
    log_path = tmp_path / "server.log"  # a file: an undrained pipe would block the workers
    server_log = open(log_path, "w")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen(
        ["gunicorn", "-c", str(repo_root / "gunicorn.conf.py"),
         "housing.deployment.app:create_app()"],
        cwd=registered_store, env=env, stdout=server_log, stderr=subprocess.STDOUT,
        text=True)
    answered: dict[str, int] = {}  # request id -> rows predicted
    failed: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(150):
            rid, rows = f"c{k}-{i}", 1 + i % 3
            body = json.dumps([district] * rows)
            try:
                conn.request("POST", "/predict", body, {"Content-Type": "application/json",
                                                        "X-Request-ID": rid,
                                                        "X-Housing-Traffic": "test"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok, rid = False, f"{rid}: {err!r}"
            with lock:
                (answered.__setitem__(rid, rows) if ok else failed.append(rid))

    try:
        try:
            wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=90)
        except NotReady as err:
            pytest.fail(f"gunicorn: {err}: {log_path.read_text()[-4000:]}")
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)  # a swap while traffic flows
        for t in threads:
            t.join(timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: every worker drains its log
        proc.wait(timeout=60)
        server_log.close()
    output = log_path.read_text()

    assert proc.returncode == 0, output[-2000:]
    logged: dict[str, list[int]] = {}
    for path in log_dir.glob("predictions-*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            logged.setdefault(record["request_id"], []).append(record["row"])
    # 600 requests over 2 workers that retire every 40-44 requests: many worker exits.
    assert len(answered) >= 550, failed[:5]
    assert len(list(log_dir.glob("predictions-*.jsonl"))) > 4
    missing = [rid for rid in answered if rid not in logged]
    assert not missing, f"{len(missing)} answered requests not in the log: {missing[:5]}"
    assert all(sorted(logged[rid]) == list(range(rows)) for rid, rows in answered.items())
