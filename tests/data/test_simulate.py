import numpy as np
import pytest

from housing.config import FEATURES, TARGET
from housing.data.split import split_dataset
from housing.monitoring.simulate import SCENARIOS, _km_to, simulate_batch
from housing.features.transformers import MAJOR_CITIES


@pytest.fixture(scope="module")
def splits(housing_frame):
    return split_dataset(housing_frame, stream_fraction=0.1, seed=42)


def batch(splits, scenario, seed=0, rows=1000):
    return simulate_batch(splits.stream, scenario=scenario, rows=rows, seed=seed, batch="b")


@pytest.mark.parametrize("scenario", SCENARIOS)
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
