"""The fixed test split, the held-back stream pool and the training set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from housing.config import ROW_ID

# The published split: train_test_split(X, y, test_size=0.2, random_state=0) on
# scikit-learn's row order (prepare.test_seed: 0), so results stay comparable; other
# seeds give other 80/20 splits (benchmarks/accuracy.py --seeds).
TEST_SIZE = 0.2
PUBLISHED_TEST_SEED = 0


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    test: pd.DataFrame
    stream: pd.DataFrame


def split_dataset(
    frame: pd.DataFrame,
    *,
    stream_fraction: float,
    seed: int,
    train_sample_rows: int = 0,
    test_seed: int = PUBLISHED_TEST_SEED,
) -> Splits:
    """Split off the published test set, then a seeded stream pool, and keep the rest for training.

    ``stream_fraction`` is a fraction of all rows; ``train_sample_rows`` > 0 subsamples the
    training set (for quick runs); the test set depends on ``test_seed`` alone.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 <= stream_fraction < 1.0 - TEST_SIZE:
        raise ValueError(
            f"prepare.stream_fraction must be in [0, {1.0 - TEST_SIZE:g}), got {stream_fraction}"
        )
    if train_sample_rows < 0:
        raise ValueError(f"prepare.train_sample_rows must be >= 0, got {train_sample_rows}")
    with_ids = frame.reset_index(drop=True)
    with_ids.insert(0, ROW_ID, np.arange(len(with_ids), dtype="int64"))

    rest_ids, test_ids = train_test_split(
        with_ids[ROW_ID].to_numpy(), test_size=TEST_SIZE, random_state=test_seed
    )
    rng = np.random.default_rng(seed)
    n_stream = round(stream_fraction * len(with_ids))
    stream_ids = np.sort(rng.choice(rest_ids, size=n_stream, replace=False))
    train_ids = np.setdiff1d(rest_ids, stream_ids)  # sorted
    if train_sample_rows and train_sample_rows < len(train_ids):
        train_ids = np.sort(rng.choice(train_ids, size=train_sample_rows, replace=False))
    return Splits(
        train=with_ids.iloc[train_ids].reset_index(drop=True),
        test=with_ids.iloc[test_ids].reset_index(drop=True),
        stream=with_ids.iloc[stream_ids].reset_index(drop=True),
    )
