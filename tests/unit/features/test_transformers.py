import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from housing.config import FEATURES
from housing.features.featurize import build_feature_pipeline
from housing.features.transformers import (
    GeoFeatures,
    HouseholdRatios,
    LogFeatures,
    haversine_km,
)


@pytest.fixture
def X(tiny_frame) -> pd.DataFrame:
    return tiny_frame[list(FEATURES)]


def test_household_ratios(X):
    out = HouseholdRatios().fit_transform(X)
    np.testing.assert_allclose(out["bedrooms_per_room"], X["AveBedrms"] / X["AveRooms"])
    np.testing.assert_allclose(out["households"] * X["AveOccup"], X["Population"])
    assert list(out.columns[: len(FEATURES)]) == list(FEATURES)


def test_log_features_are_log1p_and_clip_negatives(X):
    frame = X.assign(Population=[-5.0, 0.0, np.e - 1])
    out = LogFeatures(columns=("Population",)).fit(X).transform(frame)
    np.testing.assert_allclose(out["log_Population"], [0.0, 0.0, 1.0])


def test_rotation_by_90_degrees_is_latitude(X):
    out = GeoFeatures(rotation_angles=(0.0, 90.0), city_distances=False).fit_transform(X)
    np.testing.assert_allclose(out["rot_0"], X["Longitude"])
    np.testing.assert_allclose(out["rot_90"], X["Latitude"], atol=1e-9)
    assert not any(c.startswith("km_to") for c in out.columns)


def test_city_distances(X):
    out = GeoFeatures(rotation_angles=(), city_distances=True).fit_transform(X)
    # Row 1 sits in downtown Los Angeles, row 2 in San Diego.
    assert out.loc[1, "km_to_los_angeles"] < 1.0
    assert out.loc[2, "km_to_san_diego"] < 1.0
    assert 540 < haversine_km(34.0522, -118.2437, 37.7749, -122.4194) < 570
    distances = out.filter(like="km_to_").drop(columns="km_to_nearest_city")
    np.testing.assert_allclose(out["km_to_nearest_city"], distances.min(axis=1))


@pytest.mark.parametrize("transformer", [HouseholdRatios(), LogFeatures(), GeoFeatures()])
def test_missing_column_is_named(X, transformer):
    with pytest.raises(ValueError, match=r"Latitude|Population|MedInc"):
        transformer.fit(X.drop(columns=["Latitude", "Population", "MedInc"]))


def test_pipeline_names_match_columns_and_clone(X, small_featurize):
    pipe = build_feature_pipeline(small_featurize.model_copy(
        update={"rotation_angles": (15.0, 45.0)}))
    out = pipe.fit_transform(X)
    assert list(pipe[-1].get_feature_names_out()) == list(out.columns)
    assert not out.isna().any().any()
    assert clone(pipe).get_params()["geo__rotation_angles"] == (15.0, 45.0)


def test_transform_before_fit_fails(X):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GeoFeatures().transform(X)


def test_needs_a_dataframe(X):
    with pytest.raises(TypeError, match="DataFrame"):
        HouseholdRatios().fit(X.to_numpy())
