"""Append-only prediction log that the monitoring stage reads (JSON lines).

A request only queues its rows; a writer thread formats and appends them, so no request
waits on the disk. Each worker process writes its own file, so workers never interleave
lines. Nothing queued is lost on a graceful exit: ``close`` drains the queue and is
called from gunicorn's ``worker_exit`` hook (graceful shutdown, the old workers of a
SIGHUP swap, a worker retired by ``max_requests``) and from ``atexit``. A worker that is
killed (SIGKILL, or the arbiter's timeout) loses what it had not yet written, and at
most its last line is cut short, which the reader skips.

The queue is bounded: if the disk stalls for long, requests wait for room instead of
the log dropping rows or the worker's memory growing without limit.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import socket
import threading
from pathlib import Path

import numpy as np
import orjson

from housing.config import FEATURES

logger = logging.getLogger(__name__)

_STOP = object()
_OPEN_LOGS: list[PredictionLog] = []


def close_all() -> None:
    """Drain and close every prediction log of this process (gunicorn's worker_exit)."""
    for log in _OPEN_LOGS:
        log.close()


def format_lines(request_id: str, timestamp: str, model_version: str, rows: np.ndarray,
                 predictions: np.ndarray) -> bytes:
    """One JSON line per row: request, row index, time, version, features, prediction."""
    head = {"request_id": request_id, "row": 0, "timestamp": timestamp,
            "model_version": model_version}
    out = []
    for i, (row, pred) in enumerate(zip(rows.tolist(), predictions.tolist())):
        line = dict(head, row=i)
        line.update(zip(FEATURES, row))
        line["prediction"] = pred
        out.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    return b"".join(out)


class PredictionLog:
    """This process's log file under ``directory``, written by a background thread."""

    def __init__(self, directory: Path, max_pending: int = 10_000):
        self.directory = Path(directory)
        self.max_pending = max_pending
        self._pid: int | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None

    def _start(self) -> queue.Queue:
        """Open this process's file and start its writer (again after a fork)."""
        with self._lock:
            pid = os.getpid()
            if self._pid == pid and self._queue is not None:
                return self._queue
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path = self.directory / f"predictions-{socket.gethostname()}-{pid}.jsonl"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._queue = queue.Queue(maxsize=self.max_pending)
            self._thread = threading.Thread(target=self._run, args=(self._queue, self._fd),
                                            name="prediction-log", daemon=True)
            self._thread.start()
            self._pid = pid
            if self not in _OPEN_LOGS:
                _OPEN_LOGS.append(self)
                atexit.register(self.close)
            return self._queue

    def write(self, *, request_id: str, timestamp: str, model_version: str,
              rows: np.ndarray, predictions: np.ndarray) -> None:
        """Queue one request's rows (float matrix in FEATURES order) and predictions."""
        q = self._queue if self._pid == os.getpid() else None
        (q or self._start()).put((request_id, timestamp, model_version, rows, predictions))

    @staticmethod
    def _run(q: queue.Queue, fd: int) -> None:
        while True:
            items = [q.get()]
            while len(items) < 256:  # what else is waiting goes in the same write
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            data = b"".join(format_lines(*item) for item in items if item is not _STOP)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            except OSError:
                logger.exception("prediction log: could not write %d requests", len(items))
            if stop:
                return

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then close the file (safe to call more than once)."""
        with self._lock:
            if self._pid != os.getpid() or self._queue is None:
                return
            self._queue.put(_STOP)
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("prediction log: writer did not finish in %.0f s", timeout)
            os.close(self._fd)
            self._queue = self._thread = self._fd = self._pid = None
