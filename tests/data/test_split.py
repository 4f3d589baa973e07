"""The split keeps the published test set and a disjoint, seeded stream pool (real data)."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from housing.config import FEATURES, ROW_ID, TARGET
from housing.data.split import split_dataset


def test_test_set_is_the_published_seed0_split(housing_frame):
    splits = split_dataset(housing_frame, stream_fraction=0.1, seed=42)
    _, X_test, _, y_test = train_test_split(housing_frame[list(FEATURES)],
                                            housing_frame[TARGET], test_size=0.2,
                                            random_state=0)
    assert len(splits.test) == 4128
    np.testing.assert_array_equal(splits.test[list(FEATURES)].to_numpy(), X_test.to_numpy())
    np.testing.assert_array_equal(splits.test[TARGET].to_numpy(), y_test.to_numpy())


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3])
def test_parts_are_disjoint_and_complete(housing_frame, fraction):
    splits = split_dataset(housing_frame, stream_fraction=fraction, seed=7)
    ids = [set(part[ROW_ID]) for part in (splits.train, splits.test, splits.stream)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(map(len, ids)) == len(housing_frame)
    assert len(splits.stream) == round(fraction * len(housing_frame))


def test_another_test_seed_is_another_80_20_split(housing_frame):
    published = split_dataset(housing_frame, stream_fraction=0.0, seed=0)
    other = split_dataset(housing_frame, stream_fraction=0.0, seed=0, test_seed=3)
    assert len(other.test) == len(published.test) and len(other.stream) == 0
    assert set(other.test[ROW_ID]) != set(published.test[ROW_ID])
    assert set(other.test[ROW_ID]).isdisjoint(other.train[ROW_ID])
    assert len(other.train) + len(other.test) == len(housing_frame)


def test_stream_pool_is_seeded(housing_frame):
    a = split_dataset(housing_frame, stream_fraction=0.1, seed=1)
    b = split_dataset(housing_frame, stream_fraction=0.1, seed=1)
    c = split_dataset(housing_frame, stream_fraction=0.1, seed=2)
    assert a.stream[ROW_ID].tolist() == b.stream[ROW_ID].tolist()
    assert a.stream[ROW_ID].tolist() != c.stream[ROW_ID].tolist()
    assert a.test[ROW_ID].tolist() == c.test[ROW_ID].tolist()


def test_train_sample_only_shrinks_training(housing_frame):
    full = split_dataset(housing_frame, stream_fraction=0.1, seed=1)
    small = split_dataset(housing_frame, stream_fraction=0.1, seed=1, train_sample_rows=500)
    assert len(small.train) == 500
    assert set(small.train[ROW_ID]) <= set(full.train[ROW_ID])
    assert small.test[ROW_ID].tolist() == full.test[ROW_ID].tolist()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stream_fraction": 0.9, "seed": 0}, "stream_fraction"),
    ({"stream_fraction": -0.1, "seed": 0}, "stream_fraction"),
    ({"stream_fraction": 0.1, "seed": 0, "train_sample_rows": -1}, "train_sample_rows"),
])
def test_bad_split_params_are_named(tiny_frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_dataset(tiny_frame, **kwargs)
