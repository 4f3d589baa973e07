"""The rows prepare trains on from production: the accepted batches, as they were accepted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from housing.config import FEATURES, TARGET
from housing.data.production import RECORD_ID, accepted_rows, batch_digest


def batch(rows: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({RECORD_ID: [f"r{i}" for i in range(rows)],
                         **{f: rng.uniform(1, 5, rows) for f in FEATURES},
                         TARGET: rng.uniform(0.5, 5, rows)})


def accept(frame: pd.DataFrame, folder, name: str = "b1") -> list[dict]:
    """What the monitor records when it accepts a batch: its file and its digest."""
    folder.mkdir(exist_ok=True)
    frame.to_parquet(folder / f"{name}.parquet", index=False)
    return [{"batch": name, "rows": len(frame), "md5": batch_digest(frame)}]


def test_an_accepted_batch_as_accepted_is_read_back(tmp_path):
    frame = batch()
    rows = accepted_rows(accept(frame, tmp_path / "accepted"), tmp_path / "accepted")
    pd.testing.assert_frame_equal(rows, frame[[RECORD_ID, *FEATURES, TARGET]])


@pytest.mark.parametrize("change", ["a label", "a feature", "a row dropped", "a row added"])
def test_an_accepted_batch_changed_afterwards_is_refused(tmp_path, change):
    """Prepare never trains on rows other than those the monitor judged: a batch file edited
    after its acceptance fails, naming the batch and both digests."""
    frame = batch()
    entries = accept(frame, tmp_path / "accepted")
    edited = frame.copy()
    if change == "a label":
        edited.loc[2, TARGET] += 0.5
    elif change == "a feature":
        edited.loc[0, FEATURES[0]] *= 1000
    elif change == "a row dropped":
        edited = edited.iloc[1:]
    else:
        edited = pd.concat([edited, batch(5).iloc[[4]]], ignore_index=True)
    edited.to_parquet(tmp_path / "accepted" / "b1.parquet", index=False)
    with pytest.raises(ValueError, match=rf"accepted batch 'b1' changed since it was accepted "
                                         rf"\(md5 {batch_digest(edited)} != {entries[0]['md5']}\)"):
        accepted_rows(entries, tmp_path / "accepted")


def test_the_digest_does_not_depend_on_the_row_order():
    frame = batch()
    assert batch_digest(frame) == batch_digest(frame.iloc[::-1])
