import pandas as pd
import pytest

from housing.config import FEATURES, TARGET
from housing.features.featurize import build_feature_pipeline


@pytest.fixture(scope="session")
def small_train(housing_frame) -> pd.DataFrame:
    return housing_frame.sample(n=600, random_state=0)


@pytest.fixture(scope="session")
def small_matrix(small_train):
    """(featurizer, X, y) for 600 real districts."""
    featurizer = build_feature_pipeline(log_columns=("Population", "AveOccup"),
                                        rotation_angles=(30.0, 60.0), city_distances=True)
    X = featurizer.fit_transform(small_train[list(FEATURES)])
    return featurizer, X, small_train[TARGET].to_numpy()
