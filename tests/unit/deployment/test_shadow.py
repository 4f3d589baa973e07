"""The shadow challenger in the log's writer: sampled, bounded, counted, never in the way."""

from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter

from housing.deployment.shadow import MAX_BEHIND_ROWS, Shadow


def item(version: str, n: int) -> tuple:
    """A queued log item as PredictionLog.write queues it."""
    rows = np.arange(n * 8, dtype=float).reshape(n, 8)
    return ("r", "t", version, rows, np.zeros(n), (None, 0, "rec", None))


def challenger(version="2", fail=False):
    def predict(rows):
        if fail:
            raise RuntimeError("boom")
        return rows[:, 0] + 0.5
    return SimpleNamespace(version=version, predict=predict)


def counted():
    counter = Counter("shadow_rows", "rows", ["outcome"], registry=CollectorRegistry())
    return counter, lambda outcome: counter.labels(outcome)._value.get()


def test_every_request_is_scored_in_one_call_and_split_back():
    counter, value = counted()
    items = [item("1", 2), item("1", 3)]
    found = Shadow(lambda: challenger(), 1.0, counter).score(items, behind_rows=5)
    assert sorted(found) == [0, 1]
    for i, (version, values) in found.items():
        assert version == "2"
        np.testing.assert_array_equal(values, items[i][3][:, 0] + 0.5)
    assert value("scored") == 5


def test_the_share_samples_requests_and_zero_switches_it_off():
    items = [item("1", 1) for _ in range(2000)]
    half = Shadow(lambda: challenger(), 0.5, seed=1).score(items, 0)
    assert 800 < len(half) < 1200
    assert Shadow(lambda: challenger(), 0.0).score(items, 0) == {}


def test_no_challenger_or_the_production_version_itself_is_not_shadowed():
    assert Shadow(lambda: None, 1.0).score([item("1", 2)], 0) == {}
    assert Shadow(lambda: challenger("1"), 1.0).score([item("1", 2)], 0) == {}


def test_a_writer_behind_drops_shadow_work_and_counts_it():
    counter, value = counted()
    found = Shadow(lambda: challenger(), 1.0, counter).score([item("1", 4)],
                                                             MAX_BEHIND_ROWS + 1)
    assert found == {} and value("dropped") == 4


def test_a_failing_challenger_costs_no_line_and_is_counted():
    counter, value = counted()
    assert Shadow(lambda: challenger(fail=True), 1.0, counter).score([item("1", 3)], 0) == {}
    assert value("failed") == 3


def test_a_share_outside_0_and_1_is_refused():
    with pytest.raises(ValueError, match="share"):
        Shadow(lambda: None, 1.5)
