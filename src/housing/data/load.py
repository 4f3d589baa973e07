"""Load the California Housing data through scikit-learn's own fetcher."""

from __future__ import annotations

import logging

import pandas as pd

from housing.config import FEATURES, TARGET

logger = logging.getLogger(__name__)


class DataUnavailableError(RuntimeError):
    """The data set is neither in scikit-learn's cache nor downloadable."""


def load_california_housing(data_home: str | None = None) -> pd.DataFrame:
    """The 20,640 districts in scikit-learn's order: 8 features and MedHouseVal.

    scikit-learn reads its cache folder from SCIKIT_LEARN_DATA itself; ``data_home``
    overrides it.
    """
    from sklearn.datasets import fetch_california_housing, get_data_home

    home = data_home  # None: scikit-learn reads SCIKIT_LEARN_DATA itself
    try:
        bunch = fetch_california_housing(data_home=home, as_frame=True)
    except OSError as err:  # URLError is an OSError: no cache and no network
        raise DataUnavailableError(
            f"California Housing is not in scikit-learn's cache at {get_data_home(home)} and "
            f"could not be downloaded ({err}). Point SCIKIT_LEARN_DATA at a folder holding "
            "cal_housing_py3.pkz."
        ) from err
    frame = bunch.frame
    logger.info("loaded %d rows from scikit-learn's cache at %s", len(frame), get_data_home(home))
    return frame[[*FEATURES, TARGET]]
