"""/metrics on the real service: gunicorn with two workers, traffic from eight threads
(so both workers answer), the page scraped and parsed with prometheus_client's own parser.
Its counts add up to the requests sent, across both workers and after one was killed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from housing.config import FEATURES

pytestmark = pytest.mark.slow

ROW = {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
       "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23}
KEY = "metrics-test-key-0123456789abcdef"
PREDICTS, INVOCATIONS, BAD = 40, 20, 10  # /invocations with 3 rows each


@pytest.fixture(scope="module")
def service(registered_store, gunicorn_service, tmp_path_factory):
    folder = tmp_path_factory.mktemp("metrics")
    (folder / "counter_999999.db").write_bytes(b"left by an earlier run")  # emptied at start
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{registered_store / 'mlflow.db'}",
           "HOUSING_PREDICTION_LOG_DIR": str(tmp_path_factory.mktemp("metrics-log")),
           "HOUSING_ACCESS_LOG": "off", "HOUSING_METRICS_DIR": str(folder),
           "HOUSING_API_KEY": KEY}
    with gunicorn_service(registered_store, env) as (base, proc, _):
        reporting(proc.pid, folder)  # /ready came from one worker: wait for both
        yield base, proc, folder


def reporting(master: int, folder: Path) -> list[int]:
    """The master's workers, once each reported the version it serves."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = workers(master)
        if len(pids) == 2 and all((folder / f"gauge_livemax_{pid}.db").exists()
                                  for pid in pids):
            return pids
        time.sleep(0.2)
    raise AssertionError("the workers did not report their versions within 60 s")


def call(base: str, path: str, body=None, headers=None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={
        "Content-Type": "application/json", "X-API-Key": KEY, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def send_traffic(base: str) -> None:
    jobs = ([("/predict", ROW)] * PREDICTS
            + [("/invocations", {"dataframe_records": [ROW] * 3})] * INVOCATIONS
            + [("/predict", {**ROW, "MedInc": "high"})] * BAD
            + [("/predict", {**ROW, "MedInc": 1000.0})])
    statuses: list[int] = []

    def run(part):
        statuses.extend(call(base, path, body) for path, body in part)

    threads = [threading.Thread(target=run, args=(jobs[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * (PREDICTS + INVOCATIONS + 1) + [422] * BAD


def scrape(base: str, headers: dict[str, str]) -> dict[tuple, float]:
    request = urllib.request.Request(f"{base}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def total(samples: dict[tuple, float], name: str, **labels: str) -> float:
    return sum(value for (sample, found), value in samples.items() if sample == name
               and all(dict(found).get(k) == v for k, v in labels.items()))


def workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def settled(base: str, rows: int) -> dict[tuple, float]:
    """The page once both workers' writers logged every row (they write within ~50 ms)."""
    deadline = time.monotonic() + 20
    while True:
        samples = scrape(base, {"Authorization": f"Bearer {KEY}"})
        if total(samples, "housing_prediction_log_written_rows_total") >= rows \
                or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def test_the_page_needs_the_key(service):
    base, _, _ = service
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(base, {})
    assert refused.value.code == 401


def test_counts_add_up_across_both_workers(service):
    base, proc, folder = service
    send_traffic(base)
    rows = PREDICTS + 3 * INVOCATIONS + 1
    samples = settled(base, rows)
    assert not (folder / "counter_999999.db").exists()
    counted = {int(p.stem.rsplit("_", 1)[1]) for p in folder.glob("counter_*.db")}
    assert set(workers(proc.pid)) <= counted, "both workers answered"
    assert total(samples, "housing_http_requests_total", route="/predict",
                 status="200") == PREDICTS + 1
    assert total(samples, "housing_http_requests_total", route="/predict",
                 status="422") == BAD
    assert total(samples, "housing_http_requests_total", route="/invocations") == INVOCATIONS
    assert total(samples, "housing_http_request_duration_seconds_count",
                 route="/predict") == PREDICTS + 1 + BAD
    assert total(samples, "housing_predicted_rows_total") == rows
    assert total(samples, "housing_predicted_value_count") == rows
    assert total(samples, "housing_prediction_log_written_rows_total") == rows
    assert total(samples, "housing_prediction_log_pending_rows") == 0
    assert total(samples, "housing_prediction_log_lost_rows_total") == 0
    assert total(samples, "housing_out_of_range_values_total", feature="MedInc") == 1
    assert sum(total(samples, "housing_out_of_range_values_total", feature=f)
               for f in FEATURES) == 1
    # the master loaded the version once; both workers serve it from the master's pages
    assert total(samples, "housing_model_loads_total", outcome="adopted") == 1
    served = [dict(labels) for (name, labels), value in samples.items()
              if name == "housing_model_info" and value == 1]
    assert len(served) == 1 and served[0]["name"] == "california-housing"


def test_a_killed_workers_counts_stay_and_its_gauges_go(service):
    base, proc, folder = service
    before = settled(base, 0)
    victim = workers(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (victim in workers(proc.pid) or len(workers(proc.pid)) < 2) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert victim not in reporting(proc.pid, folder)  # its replacement reported too
    after = scrape(base, {"X-API-Key": KEY})
    assert not list(folder.glob(f"gauge_live*_{victim}.db"))
    name = "housing_predicted_rows_total"
    assert total(after, name) == total(before, name)
    # the new worker forked from the master with its version: nothing loaded again
    assert total(after, "housing_model_loads_total", outcome="adopted") == 1
    served = [dict(labels) for (name, labels), value in after.items()
              if name == "housing_model_info" and value == 1]
    assert len(served) == 1
