"""Live evidence: production and the challenger on the same labelled rows (pure)."""

import numpy as np
import pandas as pd

from housing.monitoring.shadow import compare, live_evidence


def test_a_better_challenger_has_an_interval_below_zero_and_a_worse_one_above():
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 5, 2000)
    good, bad = y + rng.normal(0, 0.3, 2000), y + rng.normal(0, 0.5, 2000)
    better = compare(y, bad, good)
    assert better["challenger_rmse"] < better["production_rmse"]
    low, high = better["interval"]
    assert low <= better["difference"] <= high < 0 and better["verdict"] == "challenger better"
    worse = compare(y, good, bad)
    assert worse["interval"][0] > 0
    assert compare(y, good, bad) == worse  # seeded: the same rows, the same interval


def test_a_challenger_that_predicts_the_same_shows_no_difference():
    rng = np.random.default_rng(1)
    y = rng.uniform(1, 5, 1000)
    same = y + rng.normal(0, 0.4, 1000)
    found = compare(y, same, same.copy())
    assert found["difference"] == 0 and found["interval"] == [0, 0]


def test_each_version_pair_is_compared_on_its_labelled_shadowed_rows_only():
    rows = pd.DataFrame({
        "MedHouseVal": [1.0, 2.0, 3.0, np.nan, 2.0, 1.0],
        "served_version": ["1", "1", "1", "1", "1", "2"],
        "served_prediction": [1.1, 2.2, 2.9, 1.0, 2.0, 1.0],
        "challenger_version": ["3", "3", "3", "3", None, "3"],
        "challenger_prediction": [1.0, 2.1, 3.0, 1.0, np.nan, 1.2],
    })
    found = live_evidence(rows)
    assert [(e["production_version"], e["challenger_version"], e["labelled_rows"])
            for e in found] == [(3 - 1, 3, 1), (1, 3, 3)]
    assert live_evidence(rows.drop(columns=["challenger_prediction"])) == []
