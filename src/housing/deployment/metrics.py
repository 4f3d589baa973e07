"""The service's Prometheus metrics, served at /metrics in Prometheus' text format.

Under gunicorn every worker is a process of its own, so the counts live in
prometheus_client's multiprocess mode: each worker writes its values to memory-mapped
files in one folder, and the worker that answers a scrape adds up every worker's files.
``multiprocess_folder`` picks that folder and empties it when the master starts (it must
run before prometheus_client is imported: the library chooses its value class then);
gunicorn's ``child_exit`` hook calls ``worker_gone`` so a dead worker's live gauges leave
the page while its counts stay in the totals. Without the folder (a test's app in one
process), the values live in this process and the page shows them alone.

What the page holds, all prefixed ``housing_``:

- ``http_requests_total{route,method,status}`` and
  ``http_request_duration_seconds{route}``: every answer, by the route's rule (never the
  raw path, so a client cannot make new series);
- ``predicted_rows_total{route}`` and ``predicted_value`` (a histogram, 100k USD);
- ``out_of_range_values_total{feature}``: values outside the training range;
- ``model_info{name,version,runtime}`` (1 for the version a live worker serves),
  ``model_loads_total{outcome}`` (adopted; refused by a check; failed, as a download
  that is retried);
- ``prediction_log_pending_rows``, ``..._written_rows_total``, ``..._lost_rows_total``,
  ``..._write_errors_total``, ``..._store_failures_total`` and
  ``..._store_waiting_segments``;
- ``shadow_rows_total{outcome}``: rows the shadow challenger scored, dropped (the log's
  writer was behind) or failed on (deployment.shadow).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from housing.config import FEATURES

FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
OWNER_VARIABLE = "HOUSING_METRICS_FOLDER_OWNER"  # the process that emptied it
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
SMALL = 16  # up to this many values, prometheus_client's own observe, one by one
VALUE_BUCKETS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5)


def multiprocess_folder(folder: Path | None) -> Path:
    """Point prometheus_client at ``folder`` (the environment's, or a new temporary one,
    when None) and empty it of an earlier run's files, once per process (the master).
    Call before it is imported."""
    chosen = folder or (Path(os.environ[FOLDER_VARIABLE]) if os.environ.get(FOLDER_VARIABLE)
                        else Path(tempfile.mkdtemp(prefix="housing-metrics-")))
    chosen.mkdir(parents=True, exist_ok=True)
    # gunicorn reads its config again on SIGHUP: the running workers' files stay
    owner = f"{os.getpid()} {chosen}"
    if os.environ.get(OWNER_VARIABLE) != owner:
        for stale in chosen.glob("*.db"):
            stale.unlink()
    os.environ[FOLDER_VARIABLE], os.environ[OWNER_VARIABLE] = str(chosen), owner
    return chosen


def worker_gone(pid: int) -> None:
    """A worker exited: its live gauges leave the page (its counters stay in the sums)."""
    if os.environ.get(FOLDER_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class _Unmeasured:
    """Stands for a metric where nothing is measured (a log outside the app)."""

    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass


@dataclass(frozen=True)
class LogMetrics:
    """What the prediction log and its shipper count (prometheus_client metrics)."""

    pending: Any
    written: Any
    lost: Any
    write_errors: Any
    store_failures: Any
    store_waiting: Any


NO_LOG_METRICS = LogMetrics(*(_Unmeasured() for _ in range(6)))


class Metrics:
    """One app's metrics; the request path updates them, /metrics renders them."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry()
        self.requests = Counter("housing_http_requests", "HTTP answers by route and status.",
                                ["route", "method", "status"], registry=registry)
        self.latency = Histogram("housing_http_request_duration_seconds",
                                 "Time from the request's arrival at the app to its answer.",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.rows = Counter("housing_predicted_rows", "Rows predicted and answered.",
                            ["route"], registry=registry)
        self.values = Histogram("housing_predicted_value",
                                "Predicted median house values (100k USD).",
                                buckets=VALUE_BUCKETS, registry=registry)
        self.out_of_range = Counter("housing_out_of_range_values",
                                    "Feature values outside the training range.",
                                    ["feature"], registry=registry)
        self.model_info = Gauge("housing_model_info", "The version a live worker serves.",
                                ["name", "version", "runtime"], registry=registry,
                                multiprocess_mode="livemax")
        self.model_loads = Counter("housing_model_loads", "Versions adopted or refused.",
                                   ["outcome"], registry=registry)
        self.log = LogMetrics(
            pending=Gauge("housing_prediction_log_pending_rows",
                          "Rows queued for the prediction log, not yet on disk.",
                          registry=registry, multiprocess_mode="livesum"),
            written=Counter("housing_prediction_log_written_rows",
                            "Rows written to the prediction log.", registry=registry),
            lost=Counter("housing_prediction_log_lost_rows",
                         "Rows a stopping worker could not write.", registry=registry),
            write_errors=Counter("housing_prediction_log_write_errors",
                                 "Failed writes to the log (each retried).", registry=registry),
            store_failures=Counter("housing_prediction_log_store_failures",
                                   "Failed uploads of log segments (each retried).",
                                   registry=registry),
            store_waiting=Gauge("housing_prediction_log_store_waiting_segments",
                                "Closed log segments waiting for the object store.",
                                registry=registry, multiprocess_mode="livesum"))
        self.shadow = Counter("housing_shadow_rows", "Rows the shadow challenger scored, "
                              "dropped or failed on.", ["outcome"], registry=registry)
        self._served: tuple[str, str, str] | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._rows: dict[str, Any] = {}
        self._feature_children = [self.out_of_range.labels(f) for f in FEATURES]

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answer: counted by route and status, its time in the route's histogram."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # routes are the app's rules: a bounded set of series
            children = self._children[key] = (self.requests.labels(route, method, str(status)),
                                              self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def predicted(self, route: str, values: np.ndarray, outside: np.ndarray | None) -> None:
        """A request's predictions, and per feature how many of its values lay outside the
        training range (``outside``: counts in FEATURES order, or None)."""
        rows = self._rows.get(route)
        if rows is None:
            rows = self._rows[route] = self.rows.labels(route)
        rows.inc(len(values))
        if len(values) <= SMALL:
            for value in values.tolist():
                self.values.observe(value)
        else:
            observe_many(self.values, values)
        if outside is not None:
            for child, count in zip(self._feature_children, outside.tolist()):
                if count:
                    child.inc(count)

    def serving(self, name: str, version: str, runtime: str) -> None:
        """The version this worker serves now: 1 for it, 0 for the one it replaced."""
        if self._served is not None:
            self.model_info.labels(*self._served).set(0)
        self._served = (name, version, runtime)
        self.model_info.labels(*self._served).set(1)

    def model_event(self, outcome: str, loaded: Any = None) -> None:
        """A version adopted (``loaded``: the LoadedModel), refused or failed."""
        self.model_loads.labels(outcome).inc()
        if loaded is not None:
            self.serving(loaded.name, loaded.version, loaded.runtime_name)

    def page(self) -> bytes:
        """The text exposition: every worker's values when multiprocess, else this one's."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        if not os.environ.get(FOLDER_VARIABLE):
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)


def observe_many(histogram: Any, values: np.ndarray) -> None:
    """Observe every value of a batch with one update per bucket, not one per value (a
    10,000-row request would otherwise cost 10,000 locked updates). Uses the histogram's
    bucket and sum values as prometheus_client's own ``observe`` does."""
    if not len(values):
        return
    bounds = histogram._upper_bounds  # ascending, ending with +Inf
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    histogram._sum.inc(float(values.sum()))
    for bucket, count in zip(histogram._buckets, counts.tolist()):
        if count:
            bucket.inc(count)
