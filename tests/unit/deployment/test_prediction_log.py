"""The prediction log's writer thread: every queued row reaches the file on close."""

from __future__ import annotations

import json
import threading

import numpy as np

from housing.config import FEATURES
from housing.deployment.prediction_log import PredictionLog, close_all, format_lines


def rows(n: int) -> np.ndarray:
    return np.arange(n * len(FEATURES), dtype=float).reshape(n, len(FEATURES)) + 0.5


def read(log: PredictionLog) -> list[dict]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def test_lines_carry_request_row_features_and_prediction():
    text = format_lines("r1", "2026-01-01T00:00:00.000+00:00", "3", rows(2), np.array([1.5, 2.5]))
    first, second = (json.loads(line) for line in text.decode().splitlines())
    assert first["request_id"] == "r1" and first["row"] == 0 and second["row"] == 1
    assert first["model_version"] == "3" and second["prediction"] == 2.5
    assert [first[f] for f in FEATURES] == rows(2)[0].tolist()


def test_close_writes_everything_queued_from_many_threads(tmp_path):
    log = PredictionLog(tmp_path, max_pending_rows=8)  # a small queue: writers wait, never drop

    def send(k: int) -> None:
        for i in range(200):
            log.write(request_id=f"{k}-{i}", timestamp="t", model_version="1",
                      rows=rows(1 + i % 3), predictions=np.ones(1 + i % 3))

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = read(log)
    assert len(lines) == 4 * sum(1 + i % 3 for i in range(200))
    assert len({line["request_id"] for line in lines}) == 800
    log.close()  # a second close is harmless


def test_close_all_drains_every_open_log(tmp_path):
    logs = [PredictionLog(tmp_path / str(k)) for k in range(2)]
    for log in logs:
        log.write(request_id="x", timestamp="t", model_version="1", rows=rows(1),
                  predictions=np.ones(1))
    close_all()
    assert all(len(read(log)) == 1 for log in logs)


def test_writes_after_close_reopen_the_file(tmp_path):
    log = PredictionLog(tmp_path)
    for rid in ("a", "b"):
        log.write(request_id=rid, timestamp="t", model_version="1", rows=rows(1),
                  predictions=np.ones(1))
        log.close()
    assert [line["request_id"] for line in read(log)] == ["a", "b"]
