import numpy as np
import pytest

from housing.config import FEATURES, TARGET
from housing.data.split import split_dataset
from housing.features.transformers import MAJOR_CITIES
from housing.monitoring.simulate import (
    DATA_BUGS,
    SCENARIOS,
    _km_to,
    selection_weights,
    simulate_batch,
)


@pytest.fixture(scope="module")
def splits(housing_frame):
    return split_dataset(housing_frame, stream_fraction=0.1, seed=42)


def batch(splits, scenario, seed=0, rows=1000):
    return simulate_batch(splits.stream, scenario=scenario, rows=rows, seed=seed, batch="b")


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in DATA_BUGS])
def test_rows_come_from_the_stream_pool_never_the_test_set(splits, scenario):
    out = batch(splits, scenario)

    def keys(frame):
        return set(map(tuple, frame[["Latitude", "Longitude", "MedInc"]].round(6).to_numpy()))

    assert keys(out) <= keys(splits.stream)
    assert not keys(out) & (keys(splits.test) - keys(splits.stream))
    assert out["record_id"].tolist()[:2] == ["b/0", "b/1"] and len(out) == 1000


def test_none_is_seeded_and_iid(splits):
    a, b = batch(splits, "none", seed=3), batch(splits, "none", seed=3)
    assert a.equals(b)
    assert abs(a["MedInc"].mean() - splits.stream["MedInc"].mean()) < 0.2


def test_income_inflation_raises_incomes(splits):
    assert batch(splits, "income_inflation")["MedInc"].mean() > \
        splits.stream["MedInc"].mean() + 0.8


def test_geo_inland_is_far_from_cities(splits):
    out = batch(splits, "geo_inland")
    assert (_km_to(out, tuple(n for n, _, _ in MAJOR_CITIES)) > 80).all()


@pytest.mark.parametrize("scenario", ["geo_inland", "geo_coastal_south"])
def test_a_regional_batch_draws_only_the_districts_its_weights_select(splits, scenario):
    weights = selection_weights(splits.stream, scenario)
    selected = splits.stream[weights > 0]
    out = batch(splits, scenario)
    key = ["Latitude", "Longitude", "MedInc"]
    assert set(map(tuple, out[key].to_numpy())) <= set(map(tuple, selected[key].to_numpy()))
    assert 0 < len(selected) < len(splits.stream)  # a strict, non-empty selection


def test_iid_and_bug_scenarios_select_uniformly(splits):
    for scenario in ("none", "concept_bay_area", *DATA_BUGS):
        assert (selection_weights(splits.stream, scenario) == 1.0).all()


def test_concept_shift_changes_labels_not_features(splits):
    out = batch(splits, "concept_bay_area", seed=1)
    same = batch(splits, "none", seed=1)
    np.testing.assert_array_equal(out[list(FEATURES)], same[list(FEATURES)])
    ratio = out[TARGET] / same[TARGET]
    assert set(np.round(ratio.unique(), 6)) == {1.0, 1.4}


def test_bad_arguments_are_named(splits):
    with pytest.raises(ValueError, match="unknown scenario"):
        batch(splits, "earthquake")
    with pytest.raises(ValueError, match="rows"):
        batch(splits, "none", rows=0)


@pytest.mark.parametrize(("scenario", "feature"), [
    ("bug_population_thousands", "Population"), ("bug_income_hundred_thousands", "MedInc"),
    ("bug_income_dollars", "MedInc"), ("bug_age_months", "HouseAge"),
    ("bug_rooms_total", "AveRooms"), ("bug_occupancy_total", "AveOccup"),
    ("bug_age_stuck", "HouseAge"), ("bug_income_missing", "MedInc")])
def test_a_data_bug_changes_one_feature_of_an_iid_batch(splits, scenario, feature):
    clean, buggy = batch(splits, "none", seed=5), batch(splits, scenario, seed=5)
    assert set(DATA_BUGS) >= {scenario}
    others = [c for c in clean.columns if c != feature]
    assert buggy[others].equals(clean[others])  # the same districts, labels included
    assert not np.allclose(buggy[feature].to_numpy(), clean[feature].to_numpy(),
                           equal_nan=False)
