"""The prediction log on a real S3-compatible server (`rclone serve s3`): each worker's
segments become immutable objects, nothing is lost while the store is down, and the
monitor copies each object once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from housing.config import FEATURES
from housing.data.log_objects import INDEX, sync
from housing.data.production import read_prediction_log
from housing.deployment.log_shipper import object_name
from housing.deployment.prediction_log import PredictionLog
from housing.dev import stack as team
from housing.log_store import LogStore

pytestmark = pytest.mark.slow


def write(log: PredictionLog, request: str, n: int) -> None:
    log.write(request_id=request, timestamp="2026-12-05T00:00:00Z", model_version="1",
              rows=np.arange(n * len(FEATURES), dtype=float).reshape(n, len(FEATURES)),
              predictions=np.ones(n), source=(None, 0, request, None))


def stored_rows(store: LogStore, client) -> list[dict]:
    rows = []
    for name in store.list_objects(client):
        body = client.get_object(Bucket=store.bucket, Key=store.key(name))["Body"].read()
        rows += [json.loads(line) for line in body.splitlines()]
    return rows


def wait_for(condition, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)
    return value


def test_segments_become_objects_of_at_most_n_rows_and_leave_the_disk(log_store, tmp_path):
    store, client = log_store
    log = PredictionLog(tmp_path, store=store, segment_rows=20, segment_seconds=3600,
                        flush_seconds=0.01)
    for i in range(10):
        write(log, f"r{i}", 7)  # 70 rows: segments close at 20 rows or more
    log.close()
    names = store.list_objects(client)
    rows = stored_rows(store, client)
    assert sorted((r["record"], r["row"]) for r in rows) == sorted(
        (f"r{i}", j) for i in range(10) for j in range(7))
    assert len(names) >= 3 and all(n.startswith("predictions-") for n in names)
    assert list(tmp_path.glob("*.jsonl")) == []  # each segment deleted once stored
    assert log.status()["store"]["shipped_rows"] == 70


def test_an_idle_segment_ships_after_its_seconds(log_store, tmp_path):
    store, client = log_store
    log = PredictionLog(tmp_path, store=store, segment_rows=10_000, segment_seconds=0.3,
                        flush_seconds=0.01)
    write(log, "idle", 3)
    wait_for(lambda: store.list_objects(client))  # no further write, no close
    assert [r["record"] for r in stored_rows(store, client)] == ["idle"] * 3
    log.close()


def test_rows_wait_on_disk_while_the_store_is_down_and_nothing_is_lost(s3_server, log_store,
                                                                        tmp_path):
    store, client = log_store
    server = team.s3_server(s3_server)
    log = PredictionLog(tmp_path, store=store, segment_rows=5, segment_seconds=3600,
                        flush_seconds=0.01)
    server.stop()
    try:
        for i in range(6):
            write(log, f"down{i}", 5)
        status = wait_for(lambda: (s := log.status()["store"])["failures"] and s)
        assert status["state"] == "failing" and status["waiting_rows"] >= 5
        assert "housing-log" in status["last_error"] and s3_server.s3_secret() not in \
            json.dumps(status)
        assert list(tmp_path.glob("*.jsonl"))  # the rows wait on local disk
    finally:
        team.start_s3(s3_server)
    wait_for(lambda: log.status()["store"]["state"] == "ok"
             and not log.status()["store"]["waiting_rows"], 60)
    log.close()
    assert sorted(r["record"] for r in stored_rows(store, client)) == sorted(
        f"down{i}" for i in range(6) for _ in range(5))


def test_a_dead_workers_segment_is_shipped_by_the_next_one(log_store, tmp_path):
    """A worker killed before it closed its file: a later worker's sweep stores it."""
    store, client = log_store
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import socket

    orphan = tmp_path / f"predictions-{socket.gethostname()}-{dead}-20261205-0000.jsonl"
    orphan.write_text('{"request_id": "x", "row": 0}\n{"request_id": "x", "row": 1}\n'
                      '{"request_id": "x", "ro')  # cut short by the kill
    name = object_name(orphan)
    log = PredictionLog(tmp_path, store=store, flush_seconds=0.01)
    write(log, "alive", 1)
    # stored first, then removed from the disk: wait for both
    wait_for(lambda: name in store.list_objects(client) and not orphan.exists())
    log.close()


def test_the_monitor_copies_each_object_once_and_lists_without_downloading(log_store,
                                                                           tmp_path):
    store, client = log_store
    for replica in ("a", "b"):
        log = PredictionLog(tmp_path / replica, store=store, segment_rows=4,
                            flush_seconds=0.01)
        for i in range(3):
            write(log, f"{replica}{i}", 3)
        log.close()
    copies = tmp_path / "predictions" / "store"
    first = sync(store, copies)
    assert first["new"] == first["listed"] >= 2
    frame, bad = read_prediction_log(tmp_path / "predictions")
    assert bad == 0 and len(frame) == 18 and frame["record_id"].is_unique
    mtimes = {p: p.stat().st_mtime_ns for p in copies.glob("*.jsonl")}
    again = sync(store, copies)
    assert again == {"listed": first["listed"], "new": 0, "changed": 0}
    assert {p: p.stat().st_mtime_ns for p in copies.glob("*.jsonl")} == mtimes
    # an object rewritten after it was read is reported and not read again
    name = sorted(json.loads((copies / INDEX).read_text()))[0]
    client.put_object(Bucket=store.bucket, Key=store.key(name), Body=b'{"x": 1}\n')
    assert sync(store, copies)["changed"] == 1
    assert len(read_prediction_log(tmp_path / "predictions")[0]) == 18


def test_a_bad_store_url_is_refused_with_its_rule():
    for url in ("s3://A_B/x", "http://bucket/x", "s3://bucket/../x", "s3://b"):
        with pytest.raises(ValueError, match="HOUSING_PREDICTION_LOG_URL"):
            LogStore.parse(url)
    assert LogStore.parse("s3://housing-log/predictions/").url == "s3://housing-log/predictions"


def test_the_monitor_fails_fast_naming_an_unreachable_store(log_store, tmp_path, monkeypatch):
    from housing.log_store import LogStoreError

    store, _ = log_store
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    with pytest.raises(LogStoreError, match=f"{store.url}: cannot list the log") as err:
        sync(store, tmp_path)
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in str(err.value)
    assert not any(tmp_path.iterdir())  # nothing half-written
