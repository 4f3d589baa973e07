"""Ship the prediction log's closed segments to the object store (housing.log_store).

Each worker's log hands the shipper every segment it closes. The shipper uploads it as
the object ``<file stem>-<sha256 prefix>.jsonl``: named by the replica (host), the
writing process and its sequence, and by its own content, so a retry after an upload
whose answer was lost writes the same key again rather than a second copy, and a file a
restarted replica reuses the name of can never overwrite an earlier object. A segment
is deleted locally only once its upload succeeded.

While the store is down, segments wait on local disk, in order, and are retried with a
backoff (at most ``max_backoff`` seconds apart); ``status`` says how many rows wait and
since when (the service's /model). ``close`` tries each waiting segment once more within
its timeout, and what is still not stored stays on disk. A sweep (at start and every
``sweep_seconds``) also ships the segments that a process of this host left behind (a
worker killed before it could close): the content-named key makes two workers shipping
the same orphan harmless.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path

from housing.deployment.metrics import NO_LOG_METRICS, LogMetrics
from housing.log_store import LogStore, LogStoreError

logger = logging.getLogger(__name__)

# predictions-<host>-<pid>-<day>-<seq>.jsonl, as PredictionLog names its files
SEGMENT = re.compile(r"predictions-(?P<host>.+)-(?P<pid>\d+)-(?P<day>\d{8})-(?P<seq>\d{4,})\.jsonl")


def object_name(path: Path) -> str:
    """The object a segment becomes: its stem and the first 16 hex digits of its sha256."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return f"{path.stem}-{digest.hexdigest()[:16]}.jsonl"


def count_rows(path: Path) -> int:
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))


def orphans(directory: Path, host: str, me: int) -> list[Path]:
    """Segments a process of this host wrote and that no live process holds open."""
    found = []
    for path in sorted(directory.glob("predictions-*.jsonl")):
        match = SEGMENT.fullmatch(path.name)
        if not match or match["host"] != host or int(match["pid"]) == me:
            continue
        try:
            os.kill(int(match["pid"]), 0)
        except ProcessLookupError:
            found.append(path)
        except PermissionError:  # a live process of another user
            continue
    return found


class Shipper:
    """One worker's uploader: a thread that stores segments, oldest first."""

    def __init__(self, directory: Path, store: LogStore, max_backoff: float = 30.0,
                 sweep_seconds: float = 60.0, metrics: LogMetrics = NO_LOG_METRICS):
        self.directory, self.store, self.metrics = Path(directory), store, metrics
        self.max_backoff, self.sweep_seconds = max_backoff, sweep_seconds
        self._waiting: collections.OrderedDict[Path, int] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._since: float | None = None  # when the oldest failure began
        self.shipped_objects = self.shipped_rows = self.failures = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def submit(self, path: Path, rows: int) -> None:
        with self._lock:
            self._waiting[Path(path)] = rows
            self.metrics.store_waiting.set(len(self._waiting))
        self._wake.set()

    def status(self) -> dict:
        with self._lock:
            rows, files = sum(self._waiting.values()), len(self._waiting)
        return {"url": self.store.url, "state": "failing" if self.last_error else "ok",
                "waiting_segments": files, "waiting_rows": rows,
                "waiting_seconds": round(time.monotonic() - self._since, 1)
                if self._since is not None else 0.0,
                "shipped_objects": self.shipped_objects, "shipped_rows": self.shipped_rows,
                "failures": self.failures, "last_error": self.last_error}

    def _next(self) -> tuple[Path, int] | None:
        with self._lock:
            return next(iter(self._waiting.items()), None)

    def _ship(self, client, path: Path, rows: int) -> None:
        if path.exists():
            self.store.put_file(client, path, object_name(path))
            path.unlink(missing_ok=True)
            self.shipped_objects += 1
            self.shipped_rows += rows
        with self._lock:
            self._waiting.pop(path, None)
            self.metrics.store_waiting.set(len(self._waiting))

    def _sweep(self) -> None:
        for path in orphans(self.directory, socket.gethostname(), os.getpid()):
            with self._lock:
                known = path in self._waiting
            if not known:
                self.submit(path, count_rows(path))

    def _run(self) -> None:
        client, backoff, next_sweep = None, 0.0, 0.0
        while True:
            stopping = self._stopping
            if not stopping and time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + self.sweep_seconds
            while (item := self._next()) is not None:
                try:
                    client = client or self.store.client()
                    self._ship(client, *item)
                except (LogStoreError, OSError) as err:
                    self._failed(err)
                    backoff = min(max(backoff * 2, 0.5), self.max_backoff)
                    break
                if self.last_error is not None:
                    logger.warning("prediction log store %s: storing again after %d "
                                   "failures", self.store.url, self.failures)
                self.last_error, self._since, backoff = None, None, 0.0
            if stopping:
                return
            self._wake.wait(backoff or self.sweep_seconds)
            self._wake.clear()

    def _failed(self, err: Exception) -> None:
        self.failures += 1
        self.metrics.store_failures.inc()
        if self.last_error is None:
            logger.error("prediction log store %s: %s; the segments wait on local disk "
                         "and are retried", self.store.url, err)
            self._since = time.monotonic()
        self.last_error = str(err)

    def close(self, timeout: float = 20.0) -> None:
        """Try every waiting segment once more (within ``timeout``), then stop; what is
        not stored stays on disk for the next sweep."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        status = self.status()
        if status["waiting_segments"]:
            logger.error("prediction log store %s: %d rows in %d segments not stored before "
                         "exit; they stay in %s", self.store.url, status["waiting_rows"],
                         status["waiting_segments"], self.directory)
