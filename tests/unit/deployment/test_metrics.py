"""The metrics' own arithmetic: a batch observed at once lands in the same buckets as
values observed one by one; out-of-range counts agree on the small and the array path;
the multiprocess folder starts empty."""

from __future__ import annotations

import os

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from housing.config import FEATURES
from housing.deployment.metrics import VALUE_BUCKETS, Metrics, multiprocess_folder, observe_many
from housing.deployment.predict.ranges import RangeCheck


def buckets(histogram: Histogram) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in histogram.collect() for s in family.samples}


def test_a_batch_fills_the_buckets_values_one_by_one_would():
    values = np.concatenate([np.random.default_rng(0).uniform(0, 6, 500),
                             np.array(VALUE_BUCKETS)])  # edges: le is inclusive
    one, many = (Histogram(name, "h", buckets=VALUE_BUCKETS, registry=CollectorRegistry())
                 for name in ("one", "many"))
    for value in values.tolist():
        one.observe(value)
    observe_many(many, values)
    renamed = {(name.replace("many", "one"), labels): v
               for (name, labels), v in buckets(many).items() if not name.endswith("created")}
    expected = {k: v for k, v in buckets(one).items() if not k[0].endswith("created")}
    assert renamed == pytest.approx(expected)


def test_out_of_range_counts_agree_on_both_paths():
    ranges = {f: {"min": 0.0, "max": 1.0} for f in FEATURES}
    check = RangeCheck(ranges)
    rows = np.random.default_rng(1).uniform(-0.5, 1.5, (RangeCheck.SMALL, len(FEATURES)))
    small = check.outside_counts(rows)
    large = check.outside_counts(np.vstack([rows, rows]))
    assert small.tolist() == (large // 2).tolist() and small.sum() > 0
    assert RangeCheck({}).outside_counts(rows) is None


def test_the_page_counts_a_prediction_and_the_served_version():
    metrics = Metrics()
    metrics.predicted("/predict", np.array([1.2, 7.0]), np.array([1] + [0] * 7))
    metrics.serving("california-housing", "3", "lleaves")
    metrics.serving("california-housing", "4", "lleaves")
    page = metrics.page().decode()
    assert 'housing_predicted_rows_total{route="/predict"} 2.0' in page
    assert 'housing_out_of_range_values_total{feature="MedInc"} 1.0' in page
    assert 'housing_model_info{name="california-housing",runtime="lleaves",version="3"} 0.0' \
        in page
    assert 'housing_model_info{name="california-housing",runtime="lleaves",version="4"} 1.0' \
        in page
    assert generate_latest(metrics.registry) == metrics.page()


def test_the_multiprocess_folder_is_emptied(tmp_path, monkeypatch):
    # set here so that monkeypatch restores it: later tests run without the folder
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "other"))
    monkeypatch.setenv("HOUSING_METRICS_FOLDER_OWNER", "")
    (tmp_path / "counter_1.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    assert multiprocess_folder(tmp_path) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)


def test_the_folder_is_emptied_once_per_master(tmp_path, monkeypatch):
    """gunicorn runs its config again on SIGHUP: the live workers' counts stay."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "other"))
    monkeypatch.setenv("HOUSING_METRICS_FOLDER_OWNER", "")
    (tmp_path / "counter_1.db").write_bytes(b"stale")
    multiprocess_folder(tmp_path)
    (tmp_path / "counter_2.db").write_bytes(b"a live worker's")
    multiprocess_folder(tmp_path)  # the config read again by the same master
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_2.db"]
    monkeypatch.setenv("HOUSING_METRICS_FOLDER_OWNER", "1 another master")
    multiprocess_folder(tmp_path)
    assert list(tmp_path.iterdir()) == []
