"""The prepare stage: load, validate, snapshot and split."""

from __future__ import annotations

import logging

import pandas as pd

from housing.config import FEATURES, ROW_ID, TARGET, PreparePaths
from housing.data.load import load_california_housing
from housing.data.production import accepted_rows
from housing.data.split import Splits, split_dataset
from housing.data.validate import validate_frame
from housing.io import read_json, write_parquet
from housing.params import PrepareParams

logger = logging.getLogger(__name__)

PRODUCTION_ROW_ID = -1  # row_id of accepted production rows (they are not in the raw data)


def with_production_rows(splits: Splits, production: pd.DataFrame) -> Splits:
    """Append accepted, labelled production rows to the training set (never to test)."""
    if production.empty:
        return splits
    rows = validate_frame(production[[*FEATURES, TARGET]].reset_index(drop=True))
    rows.insert(0, ROW_ID, PRODUCTION_ROW_ID)
    train = pd.concat([splits.train, rows], ignore_index=True)
    return Splits(train=train, test=splits.test, stream=splits.stream)


def run(params: PrepareParams, paths: PreparePaths, *, data_home: str | None = None) -> None:
    """Validate the data, write the raw snapshot and the train/test/stream splits.

    Labelled production batches that the monitor stage accepted join the training set.
    """
    frame = validate_frame(load_california_housing(data_home))
    splits = split_dataset(frame, stream_fraction=params.stream_fraction, seed=params.seed,
                           train_sample_rows=params.train_sample_rows,
                           test_seed=params.test_seed)
    accepted = read_json(paths.accepted)["batches"] if paths.accepted.exists() else []
    if accepted:
        production = accepted_rows(accepted, paths.accepted_dir)
        splits = with_production_rows(splits, production)
        logger.info("%d accepted production rows from %d batches join the training set",
                    len(production), len(accepted))
    # Validation passed and the split succeeded: only now is anything written.
    write_parquet(frame, paths.raw)
    for name in ("train", "test", "stream"):
        part = getattr(splits, name)
        write_parquet(part, getattr(paths, name))
        logger.info("%s: %d rows", name, len(part))
