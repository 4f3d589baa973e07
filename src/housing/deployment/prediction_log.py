"""Append-only prediction log that the monitoring stage reads (JSON lines).

A request only appends its rows to an in-memory queue (a deque: no lock, no wake-up of
another thread, which on a busy worker costs a GIL hand-off per request); a writer thread
wakes every ``flush_seconds``, formats what is queued and appends it, so no request waits
on the disk. Each worker process writes its own file, so workers never interleave
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
import collections
import logging
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import orjson

from housing.config import FEATURES

logger = logging.getLogger(__name__)

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

    def __init__(self, directory: Path, max_pending: int = 10_000, flush_seconds: float = 0.05):
        self.directory = Path(directory)
        self.max_pending = max_pending
        self.flush_seconds = flush_seconds
        self._pid: int | None = None
        self._pending: collections.deque | None = None
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None

    def _start(self) -> collections.deque:
        """Open this process's file and start its writer (again after a fork)."""
        with self._lock:
            pid = os.getpid()
            if self._pid == pid and self._pending is not None:
                return self._pending
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path = self.directory / f"predictions-{socket.gethostname()}-{pid}.jsonl"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._pending, self._wake, self._stopping = collections.deque(), threading.Event(), False
            self._thread = threading.Thread(target=self._run, args=(self._pending, self._fd),
                                            name="prediction-log", daemon=True)
            self._thread.start()
            self._pid = pid
            if self not in _OPEN_LOGS:
                _OPEN_LOGS.append(self)
                atexit.register(self.close)
            return self._pending

    def write(self, *, request_id: str, timestamp: str, model_version: str,
              rows: np.ndarray, predictions: np.ndarray) -> None:
        """Queue one request's rows (float matrix in FEATURES order) and predictions."""
        pending = self._pending if self._pid == os.getpid() else None
        pending = pending if pending is not None else self._start()
        pending.append((request_id, timestamp, model_version, rows, predictions))
        if len(pending) >= self.max_pending:  # the disk is behind: wait for room
            self._wake.set()
            while len(pending) >= self.max_pending and self._thread.is_alive():
                time.sleep(0.001)

    def _run(self, pending: collections.deque, fd: int) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            stopping = self._stopping  # read first: what was queued before close is drained
            while pending:
                items = [pending.popleft() for _ in range(min(256, len(pending)))]
                data = b"".join(format_lines(*item) for item in items)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                except OSError:
                    logger.exception("prediction log: could not write %d requests", len(items))
            if stopping:
                return

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then close the file (safe to call more than once)."""
        with self._lock:
            if self._pid != os.getpid() or self._pending is None:
                return
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("prediction log: writer did not finish in %.0f s", timeout)
            os.close(self._fd)
            self._pending = self._thread = self._fd = self._pid = None
