"""The prediction log's writer thread: every queued row reaches the file on close."""

from __future__ import annotations

import json
import threading
import time

import numpy as np

from housing.config import FEATURES
from housing.deployment.log_lines import format_lines
from housing.deployment.prediction_log import PredictionLog, close_all


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


def test_files_rotate_by_size_and_by_day_and_the_monitor_reads_every_row(tmp_path):
    """A file holds at most about max_file_bytes, a new UTC day starts a new file, and the
    monitor's reader streams them all: every row once, nothing cut."""
    from housing.data.production import read_prediction_log

    today = ["20261204"]
    log = PredictionLog(tmp_path, max_file_bytes=4_000, day=lambda: today[0])
    for i in range(60):
        if i == 40:
            log.close()  # everything so far on disk, then the day turns
            today[0] = "20261205"
        log.write(request_id=f"r{i}", timestamp="2026-12-04T00:00:00.000+00:00",
                  model_version="1", rows=rows(2), predictions=np.ones(2),
                  source=(None, 0, f"rec{i}", None))
        if i % 5 == 4:
            time.sleep(0.1)  # let the writer thread take several writes
    log.close()
    files = sorted(tmp_path.glob("predictions-*.jsonl"))
    days = {f.name.rsplit("-", 2)[1] for f in files}
    assert days == {"20261204", "20261205"} and len(files) > 3
    one_write = max(len(line) for f in files for line in f.read_bytes().splitlines()) * 2 * 256
    assert all(f.stat().st_size <= 4_000 + one_write for f in files)
    frame, bad = read_prediction_log(tmp_path)
    assert bad == 0 and len(frame) == 120 and frame["record_id"].nunique() == 120


def test_shadowed_rows_carry_the_challengers_prediction_beside_production(tmp_path):
    import json
    from types import SimpleNamespace

    from housing.deployment.shadow import Shadow

    model = SimpleNamespace(version="7", predict=lambda rows: rows[:, 0] * 2)
    log = PredictionLog(tmp_path, shadow=Shadow(lambda: model, 1.0))
    log.write(request_id="r1", timestamp="2026-01-01T00:00:00.000+00:00", model_version="3",
              rows=rows(2), predictions=np.array([1.5, 2.5]))
    log.close()
    lines = [json.loads(x) for p in tmp_path.glob("*.jsonl") for x in p.read_text().splitlines()]
    assert [(x["prediction"], x["challenger_version"], x["challenger_prediction"])
            for x in lines] == [(1.5, "7", rows(2)[0, 0] * 2), (2.5, "7", rows(2)[1, 0] * 2)]
