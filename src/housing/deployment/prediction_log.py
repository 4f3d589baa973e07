"""Append-only prediction log that the monitoring stage reads (JSON lines).

A request only appends its rows to an in-memory queue (a deque: no wake-up of another
thread, which on a busy worker costs a GIL hand-off per request); a writer thread wakes
every ``flush_seconds``, formats what is queued (with the shadow challenger's
predictions where a request is shadowed: deployment.shadow) and appends it, so no request
waits on the disk or the challenger. Each worker process writes its own files, so workers
never interleave lines, and starts the next file on a new UTC day or once one holds
``max_file_bytes`` (``predictions-<host>-<pid>-<day>-<n>.jsonl``): no file grows without
end, and the monitor streams them line by line.
Nothing queued is lost on a graceful exit: ``close`` drains the queue and is called
from gunicorn's ``worker_exit`` hook (graceful shutdown, the old workers of a SIGHUP
swap, a worker retired by ``max_requests``) and from ``atexit``. A worker that is
killed (SIGKILL, or the arbiter's timeout) loses what it had not yet written, and at
most its last line is cut short, which the reader skips.

The queue is bounded in rows (``max_pending_rows``), not requests, so a worker's memory
stays bounded whatever the batch size. When the disk fails (full, read-only, gone), the
writer keeps the rows, counts the failure, says so in ``status`` (the service's /ready
and /model) and retries; requests wait for room, and once the queue has stayed full for
``max_wait_seconds`` a request is refused (``LogFull``, a 503) rather than answered
without its rows in the log.

With an object store (``store``, from HOUSING_PREDICTION_LOG_URL), the files are
segments: the writer starts the next one after ``segment_rows`` rows or
``segment_seconds`` seconds, and hands the one it closed to a shipper
(``log_shipper.Shipper``), which uploads it as an immutable object and only then deletes
it. While the store is down the segments wait on local disk, counted in ``status``, and
are retried; ``close`` ships what is left before the worker exits.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from housing.deployment.log_lines import Source, format_lines
from housing.deployment.log_shipper import Shipper
from housing.deployment.metrics import NO_LOG_METRICS, LogMetrics
from housing.deployment.shadow import Shadow
from housing.log_store import LogStore

logger = logging.getLogger(__name__)

_OPEN_LOGS: list[PredictionLog] = []
MAX_FILE_BYTES = 64 << 20


def utc_day() -> str:
    return time.strftime("%Y%m%d", time.gmtime())


def close_all() -> None:
    """Drain and close every prediction log of this process (gunicorn's worker_exit)."""
    for log in _OPEN_LOGS:
        log.close()


class LogFull(RuntimeError):
    """The log cannot take more rows now: its queue stayed full (the disk fails)."""


class PredictionLog:
    """This process's log file under ``directory``, written by a background thread."""

    def __init__(self, directory: Path, max_pending_rows: int = 200_000,
                 flush_seconds: float = 0.05, max_wait_seconds: float = 10.0,
                 max_file_bytes: int = MAX_FILE_BYTES, day: Callable[[], str] = utc_day,
                 store: LogStore | None = None, segment_rows: int = 10_000,
                 segment_seconds: float = 10.0, metrics: LogMetrics = NO_LOG_METRICS,
                 shadow: Shadow | None = None):
        self.directory, self.metrics, self.shadow = Path(directory), metrics, shadow
        self.max_file_bytes, self.day = max_file_bytes, day
        self.store, self.segment_rows, self.segment_seconds = store, segment_rows, segment_seconds
        self.shipper: Shipper | None = None
        self._file_day, self._file_seq, self._file_bytes = "", 0, 0
        self._file_rows, self._file_opened = 0, 0.0
        self.max_pending_rows = max_pending_rows
        self.flush_seconds = flush_seconds
        self.max_wait_seconds = max_wait_seconds
        self._pid: int | None = None
        self._pending: collections.deque | None = None
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self.path: Path | None = None
        self.pending_rows = 0      # queued or being written
        self.written_rows = 0
        self.write_errors = 0      # failed write attempts (each retried)
        self.lost_rows = 0         # rows a stopping writer could not write at all
        self.last_error: str | None = None

    def status(self) -> dict:
        """What /model reports: ``ok``, or ``failing`` with the count and the last error."""
        state = "failing" if self.last_error else "ok"
        status = {"state": state, "pending_rows": self.pending_rows,
                  "written_rows": self.written_rows, "write_errors": self.write_errors,
                  "lost_rows": self.lost_rows, "last_error": self.last_error}
        if self.store is not None:
            status["store"] = (self.shipper.status() if self.shipper is not None
                               else {"url": self.store.url, "state": "idle"})
        return status

    def _start(self) -> collections.deque:
        """Open this process's file and start its writer (again after a fork)."""
        with self._lock:
            pid = os.getpid()
            if self._pid == pid and self._pending is not None:
                return self._pending
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fd = None
            if self.store is not None:
                self.shipper = Shipper(self.directory, self.store, metrics=self.metrics)
            self._open_file(self.day(), 0)
            self._pending, self._wake = collections.deque(), threading.Event()
            self._stopping = False
            self.pending_rows = 0
            self._thread = threading.Thread(target=self._run, args=(self._pending,),
                                            name="prediction-log", daemon=True)
            self._thread.start()
            self._pid = pid
            if self not in _OPEN_LOGS:
                _OPEN_LOGS.append(self)
                atexit.register(self.close)
            return self._pending

    def _open_file(self, day: str, seq: int) -> None:
        """Append to this process's file number ``seq`` of ``day`` (closing the one before)."""
        name = f"predictions-{socket.gethostname()}-{os.getpid()}-{day}-{seq:04d}.jsonl"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        closed, closed_rows = self.path, self._file_rows
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self.path = fd, path
        self._file_day, self._file_seq, self._file_bytes = day, seq, os.fstat(fd).st_size
        self._file_rows, self._file_opened = 0, time.monotonic()
        if self.shipper is not None and closed is not None and closed != path:
            self.shipper.submit(closed, closed_rows)

    def _segment_full(self) -> bool:
        """With a store: this segment holds segment_rows rows, or rows for segment_seconds."""
        return self.store is not None and self._file_rows > 0 and (
            self._file_rows >= self.segment_rows
            or time.monotonic() - self._file_opened >= self.segment_seconds)

    def _rotate(self) -> None:
        """The next file, on a new day, once this one is full, or when its segment is
        complete (between two writes)."""
        day = self.day()
        if day == self._file_day and self._file_bytes < self.max_file_bytes \
                and not self._segment_full():
            return
        try:
            self._open_file(day, 0 if day != self._file_day else self._file_seq + 1)
        except OSError as err:  # the disk fails: keep appending where we are
            self.write_errors += 1
            self.last_error = f"{type(err).__name__}: {err.strerror or err}"

    def _add(self, rows: int) -> None:
        with self._count:
            self.pending_rows += rows

    def write(self, *, request_id: str, timestamp: str, model_version: str,
              rows: np.ndarray, predictions: np.ndarray,
              source: Source = (None, 0, None, None)) -> None:
        """Queue one request's rows (float matrix in FEATURES order) and predictions.

        Waits while the queue is full; raises LogFull, queueing nothing, if it stays full
        for ``max_wait_seconds``."""
        pending = self._pending if self._pid == os.getpid() else None
        pending = pending if pending is not None else self._start()
        n = len(rows)
        if self.pending_rows + n > self.max_pending_rows and self.pending_rows:
            self._wake.set()  # the disk is behind: wait for room
            deadline = time.monotonic() + self.max_wait_seconds
            while self.pending_rows + n > self.max_pending_rows and self.pending_rows:
                if time.monotonic() > deadline or not self._thread.is_alive():
                    raise LogFull(f"the prediction log holds {self.pending_rows} unwritten "
                                  f"rows ({self.last_error or 'the disk is slow'})")
                time.sleep(0.001)
        self._add(n)
        pending.append((request_id, timestamp, model_version, rows, predictions, source))

    def _run(self, pending: collections.deque) -> None:
        carry, carry_rows = memoryview(b""), 0  # formatted, not yet (fully) written
        retry = self.flush_seconds
        while True:
            self._wake.wait(retry)
            self._wake.clear()
            stopping = self._stopping  # read first: what was queued before close is drained
            self.metrics.pending.set(self.pending_rows)
            while pending or carry:
                if not carry:
                    self._rotate()
                    items = self._take(pending)
                    carry = memoryview(self._format(items))
                    carry_rows = sum(len(item[3]) for item in items)
                    self._file_rows += carry_rows
                try:
                    while carry:  # a partial write resumes where it stopped: no duplicates
                        done = os.write(self._fd, carry)
                        self._file_bytes += done
                        carry = carry[done:]
                except OSError as err:
                    self.write_errors += 1
                    self.metrics.write_errors.inc()
                    if self.last_error is None:
                        logger.error("prediction log %s: cannot write (%s); %d rows kept, "
                                     "retrying", self.path, err, self.pending_rows)
                    self.last_error = f"{type(err).__name__}: {err.strerror or err}"
                    retry = min(max(retry * 2, 0.05), 1.0)
                    break
                # The gauge before the counter: a scrape that sees every row written
                # also sees them no longer pending.
                self._add(-carry_rows)
                self.metrics.pending.set(self.pending_rows)
                self.written_rows += carry_rows
                self.metrics.written.inc(carry_rows)
                carry_rows = 0
                if self.last_error is not None:
                    logger.warning("prediction log %s: writing again after %d failed "
                                   "attempts", self.path, self.write_errors)
                    self.last_error, retry = None, self.flush_seconds
            if stopping and ((not pending and not carry) or self._give_up(pending, carry_rows)):
                return
            if not carry and self._segment_full():  # an idle worker ships its rows too
                self._rotate()

    def _format(self, items: list) -> bytes:
        """The lines of ``items``, with the challenger's predictions where shadowed."""
        shadowed = self.shadow.score(items, self.pending_rows) if self.shadow else {}
        return b"".join(format_lines(*item, challenger=shadowed.get(i))
                        for i, item in enumerate(items))

    def _take(self, pending: collections.deque) -> list:
        """The next requests to write: up to 256, and with a store no more rows than the
        segment has room for (at least one request: its rows are never split)."""
        room = self.segment_rows - self._file_rows if self.store is not None else None
        items = []
        while pending and len(items) < 256:
            if room is not None and items and len(pending[0][3]) > room:
                break
            items.append(pending.popleft())
            room = None if room is None else room - len(items[-1][3])
        return items

    def _give_up(self, pending: collections.deque, carry_rows: int) -> bool:
        """On close, after a last failed attempt: count what could not be written."""
        lost = carry_rows + sum(len(item[3]) for item in pending)
        pending.clear()
        self.lost_rows += lost
        self.metrics.lost.inc(lost)
        self._add(-lost)
        logger.error("prediction log %s: %d rows could not be written before exit (%s)",
                     self.path, lost, self.last_error)
        return True

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
            if self.shipper is not None:
                if self._file_rows:
                    self.shipper.submit(self.path, self._file_rows)
                elif self.path is not None and not os.path.getsize(self.path):
                    self.path.unlink(missing_ok=True)
                self.shipper.close(timeout)
            self._pending = self._thread = self._fd = self._pid = None
