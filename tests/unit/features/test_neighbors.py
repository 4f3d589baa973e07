import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold

from housing.features.neighbors import NeighborTargetFeatures, unit_vectors


@pytest.fixture
def districts():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"Latitude": rng.uniform(33, 38, n),
                          "Longitude": rng.uniform(-122, -117, n),
                          "MedInc": rng.uniform(1, 10, n)})
    return frame, rng.uniform(0.5, 5.0, n)


def test_fit_transform_never_uses_a_rows_own_target(districts):
    """Poisoning one row's target changes no feature of that row, only of other rows."""
    X, y = districts
    enc = NeighborTargetFeatures(ks=(5, 20), n_splits=5, random_state=1)
    base = enc.fit_transform(X, y)
    for row in (0, 17, 399):
        poisoned = y.copy()
        poisoned[row] = 1e6
        out = clone(enc).fit_transform(X, poisoned)
        pd.testing.assert_series_equal(out.iloc[row], base.iloc[row])
        assert (out.drop(index=row).filter(like="_mean") > 1e3).to_numpy().any()


def test_out_of_fold_features_equal_a_manual_cross_fit(districts):
    from sklearn.neighbors import NearestNeighbors

    X, y = districts
    out = NeighborTargetFeatures(ks=(4,), n_splits=4, random_state=3).fit_transform(X, y)
    points = unit_vectors(X["Latitude"], X["Longitude"])
    expected = np.empty(len(X))
    for fit_idx, out_idx in KFold(4, shuffle=True, random_state=3).split(points):
        nn = NearestNeighbors(n_neighbors=4).fit(points[fit_idx])
        _, idx = nn.kneighbors(points[out_idx])
        expected[out_idx] = y[fit_idx][idx].mean(axis=1)
    np.testing.assert_allclose(out["nbr4_mean"], expected)


def test_transform_uses_every_training_row(districts):
    X, y = districts
    enc = NeighborTargetFeatures(ks=(1,)).fit(X, y)
    # A training location's nearest neighbour is itself at serving time.
    np.testing.assert_allclose(enc.transform(X)["nbr1_mean"], y)
    assert np.allclose(enc.transform(X)["nbr1_km"], 0.0)
    assert list(enc.get_feature_names_out()) == [*X.columns, "nbr1_mean", "nbr1_std", "nbr1_km"]


def test_distance_weighting_favours_closer_districts():
    X = pd.DataFrame({"Latitude": [34.0, 34.001, 35.0], "Longitude": [-118.0, -118.0, -118.0]})
    y = np.array([1.0, 1.0, 5.0])
    probe = pd.DataFrame({"Latitude": [34.0005], "Longitude": [-118.0]})
    uniform = NeighborTargetFeatures(ks=(3,)).fit(X, y).transform(probe)["nbr3_mean"][0]
    weighted = NeighborTargetFeatures(ks=(3,), weighting="distance").fit(X, y).transform(
        probe)["nbr3_mean"][0]
    assert uniform == pytest.approx(7 / 3) and weighted < uniform


def test_coordinate_systems_choose_different_nearest_districts():
    # From (40N, 120W): 0.45 degrees north is 50 km, 0.5 degrees west only 42.6 km.
    X = pd.DataFrame({"Latitude": [40.45, 40.0], "Longitude": [-120.0, -120.5]})
    y = np.array([1.0, 3.0])
    probe = pd.DataFrame({"Latitude": [40.0], "Longitude": [-120.0]})
    sphere = NeighborTargetFeatures(ks=(1,)).fit(X, y).transform(probe)
    degrees = NeighborTargetFeatures(ks=(1,), coordinates="degrees").fit(X, y).transform(probe)
    assert sphere["nbr1_mean"][0] == 3.0
    assert sphere["nbr1_km"][0] == pytest.approx(42.6, abs=0.3)
    assert degrees["nbr1_mean"][0] == 1.0
    assert degrees["nbr1_km"][0] == pytest.approx(50.0, abs=0.3)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weighting": "gaussian"}, "weighting"), ({"ks": ()}, "ks"), ({"ks": (0,)}, "ks"),
    ({"coordinates": "mercator"}, "coordinates")])
def test_bad_options_are_named(districts, kwargs, message):
    X, y = districts
    with pytest.raises(ValueError, match=message):
        NeighborTargetFeatures(**kwargs).fit(X, y)


def test_needs_targets_and_coordinates(districts):
    X, y = districts
    with pytest.raises(ValueError, match="target"):
        NeighborTargetFeatures().fit(X, y[:-1])
    with pytest.raises(ValueError, match="Latitude"):
        NeighborTargetFeatures().fit(X.drop(columns="Latitude"), y)


def test_encoders_saved_before_the_coordinates_option_still_transform(districts):
    X, y = districts
    enc = NeighborTargetFeatures(ks=(3,)).fit(X, y)
    expected = enc.transform(X)
    del enc.__dict__["coordinates"]  # how a version registered earlier comes back
    pd.testing.assert_frame_equal(enc.transform(X), expected)
