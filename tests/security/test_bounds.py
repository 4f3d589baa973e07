"""Bounded work per request: error details, the prediction log's queue, and what a
write failure does."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from housing.config import FEATURES
from housing.deployment.prediction_log import LogFull, PredictionLog, utc_day
from housing.deployment.request_body import MAX_DETAILS
from tests.security.conftest import ROW, post


def test_dataframe_split_details_stop_at_their_cap(make_client):
    """An 800 KB body of unknown columns: one capped answer, not 400,000 details."""
    _, client = make_client()
    body = {"dataframe_split": {"columns": ["c"] * 400_000, "data": [[1.0]]}}
    response = post(client, "/invocations", body)
    details = response.get_json()["details"]
    assert response.status_code == 422 and len(details) == MAX_DETAILS + 1
    assert len(response.get_data()) < 20_000


@pytest.mark.parametrize("body", [
    {"dataframe_split": {"columns": [1.5] * 50_000, "data": [[1.0]]}},
    {"dataframe_split": {"columns": list(FEATURES), "data": [["x"] * 8] * 5_000}},
    {"dataframe_records": [{"Unknown" + str(i): 1 for i in range(2000)}] * 50},
    {"dataframe_records": [dict.fromkeys(FEATURES)] * 5_000},
])
def test_every_bad_body_gets_at_most_the_capped_details(make_client, body):
    _, client = make_client(max_body_bytes=8 * 1024 * 1024)
    response = post(client, "/invocations", body)
    assert response.status_code in (400, 422)
    assert len(response.get_json()["details"]) <= MAX_DETAILS + 1


def matrix(n: int) -> np.ndarray:
    return np.ones((n, len(FEATURES)))


def failing_log(directory) -> PredictionLog:
    """A log whose file is /dev/full: every write fails with ENOSPC, as on a full disk."""
    directory.mkdir()
    (directory / f"predictions-{socket.gethostname()}-{os.getpid()}-{utc_day()}-0000.jsonl"
     ).symlink_to("/dev/full")
    return PredictionLog(directory, max_pending_rows=100, flush_seconds=0.01,
                         max_wait_seconds=0.3)


def test_the_queue_is_bounded_in_rows(tmp_path):
    log = failing_log(tmp_path / "log")
    log.write(request_id="a", timestamp="t", model_version="1", rows=matrix(60),
              predictions=np.ones(60))
    with pytest.raises(LogFull, match="60 unwritten rows"):
        log.write(request_id="b", timestamp="t", model_version="1", rows=matrix(60),
                  predictions=np.ones(60))
    assert log.pending_rows == 60  # the refused request queued nothing
    log.close()


def test_a_write_failure_is_counted_kept_and_reported(tmp_path, caplog):
    log = failing_log(tmp_path / "log")
    with caplog.at_level(logging.ERROR, logger="housing.deployment.prediction_log"):
        log.write(request_id="a", timestamp="t", model_version="1", rows=matrix(5),
                  predictions=np.ones(5))
        deadline = time.monotonic() + 5
        while log.write_errors < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        status = log.status()
        assert status["state"] == "failing" and status["write_errors"] >= 2
        assert status["pending_rows"] == 5 and "No space left" in status["last_error"]
        log.close()
    assert log.status()["lost_rows"] == 5  # counted, and said in the log, never silent
    assert any("5 rows could not be written" in r.getMessage() for r in caplog.records)


def test_the_service_reports_a_failing_log_and_refuses_rather_than_drop(make_client,
                                                                        tmp_path):
    app, client = make_client()
    log = app.extensions["housing"].log
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / f"predictions-{socket.gethostname()}-{os.getpid()}-{utc_day()}-0000"
     ".jsonl").symlink_to("/dev/full")
    log.max_pending_rows, log.max_wait_seconds, log.flush_seconds = 4, 0.3, 0.01
    assert post(client, "/predict", [ROW] * 3).status_code == 200
    deadline = time.monotonic() + 5
    while not log.write_errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.get("/ready").get_json()["prediction_log"] == "failing"
    model = client.get("/model").get_json()["prediction_log"]
    assert model["state"] == "failing" and model["pending_rows"] == 3
    refused = post(client, "/predict", [ROW] * 3)
    assert refused.status_code == 503
    assert refused.get_json()["error"] == "prediction log unavailable"
    log.close()


def test_one_request_larger_than_the_queue_still_goes_through(tmp_path):
    log = PredictionLog(tmp_path, max_pending_rows=10)
    log.write(request_id="big", timestamp="t", model_version="1", rows=matrix(50),
              predictions=np.ones(50))
    log.close()
    assert len(log.path.read_text().splitlines()) == 50
    assert json.loads(log.path.read_text().splitlines()[0])["record"] is None


@contextlib.contextmanager
def files_opened():
    """The paths this process opens inside the block (Python's "open" audit event, which
    every open() and os.open() raises)."""
    opened, active = [], [True]

    def hook(event, args):
        if active[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(Path(os.fsdecode(args[0])).resolve())

    sys.addaudithook(hook)  # a hook cannot be removed: it stops recording after the block
    try:
        yield opened
    finally:
        active[0] = False


def test_the_monitoring_page_reads_only_the_monitors_report(make_client, tmp_path):
    """The production folders hold an unreadable batch file and a large prediction log;
    the page draws the map from the report's own points and never opens them."""
    from housing.config import MonitorPaths

    report = {"production_version": 1, "reference_rmse": 0.4, "rmse_bar": 0.44, "retrain": False,
              "alert": False, "reasons": ["no alert"], "rows_analysed": 3,
              "params": {"ks_threshold": 0.1, "max_rmse_increase": 0.1},
              "batches": {"b1": {"rows": 3, "labelled_rows": 0, "estimated_rmse": 0.41,
                                 "realized_rmse": None, "ks": dict.fromkeys(FEATURES, 0.01),
                                 "map": [[-122.2, 37.8], [-121.9, 37.3], [-118.2, 34.0]]}},
              "reference_map": [[-117.1, 32.7]] * 5}
    state = tmp_path / MonitorPaths().state
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps(report))
    batches = tmp_path / "data/production/batches"
    batches.mkdir(parents=True)
    (batches / "b1.parquet").write_bytes(b"not parquet")
    predictions = tmp_path / "data/predictions"
    predictions.mkdir(parents=True)
    (predictions / "predictions-h-1.jsonl").write_bytes(b"{" * 5_000_000)
    _, client = make_client(prediction_log=False)
    with files_opened() as opened:
        page = client.get("/ui/monitoring?batch=b1")
    assert page.status_code == 200
    assert state in opened
    assert not [p for p in opened if p.is_relative_to(tmp_path / "data")], opened
    assert b'id="map"' in page.data and b"map unavailable" not in page.data
    assert page.data.count(b'class="point') >= 3


def test_the_monitor_keeps_at_most_a_few_thousand_map_points():
    import pandas as pd

    from housing.monitoring.analysis import MAP_POINTS, map_points

    rows = pd.DataFrame({"Longitude": np.linspace(-124, -114, 50_000),
                         "Latitude": np.linspace(32, 42, 50_000)})
    points = map_points(rows)
    assert len(points) <= MAP_POINTS and points == map_points(rows)
    assert points[0] == [-124.0, 32.0] and len(map_points(rows.head(10))) == 10


def chunked_post(base: str, chunks) -> tuple[int, dict]:
    """POST /invocations with Transfer-Encoding: chunked (no Content-Length)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("POST", "/invocations", body=chunks, encode_chunked=True,
                     headers={"Content-Type": "application/json",
                              "X-Housing-Traffic": "test"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_gets_413_from_the_real_server(gunicorn_service,
                                                                    tmp_path):
    """gunicorn decodes a chunked body with no Content-Length; the service reads at most one
    byte past the limit and answers 413 (it answered 400, "not valid JSON", before)."""
    row = b'{"MedInc": 1.0},'
    big = [b'{"dataframe_records": [', *([row * 4096] * 140), b'{}]}']  # 9.2 MB
    with gunicorn_service(tmp_path, {"HOUSING_MAX_BODY_BYTES": str(8 * 1024 * 1024)},
                          ready_path="/health") as (base, _, _):
        status, body = chunked_post(base, iter(big))
        small_status, _ = chunked_post(base, iter([b'{"dataframe_records": ', b"[{}]}"]))
    assert status == 413 and body["error"] == "body too large", body
    assert small_status not in (400, 413)  # read whole and parsed
