"""The prepare stage: load, validate, snapshot and split."""

from __future__ import annotations

import logging
from pathlib import Path

from housing.data.load import load_california_housing
from housing.data.split import split_dataset
from housing.data.validate import validate_frame
from housing.io import write_parquet

logger = logging.getLogger(__name__)

RAW_FILE = "california_housing.parquet"


def run(
    *,
    raw_dir: Path,
    out_dir: Path,
    stream_fraction: float,
    seed: int,
    train_sample_rows: int = 0,
    data_home: str | None = None,
) -> None:
    """Validate the data, write the raw snapshot and the train/test/stream splits."""
    frame = validate_frame(load_california_housing(data_home))
    splits = split_dataset(
        frame, stream_fraction=stream_fraction, seed=seed, train_sample_rows=train_sample_rows
    )
    # Validation passed and the split succeeded: only now is anything written.
    write_parquet(frame, raw_dir / RAW_FILE)
    for name in ("train", "test", "stream"):
        part = getattr(splits, name)
        write_parquet(part, out_dir / f"{name}.parquet")
        logger.info("%s: %d rows", name, len(part))
