"""The rows prepare trains on from production: the accepted batches, as they were accepted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from housing.config import FEATURES, TARGET
from housing.data.production import (
    BATCH,
    MAX_LINE_BYTES,
    RECORD_ID,
    accepted_rows,
    batch_digest,
    log_lines,
    read_prediction_log,
)


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


GOOD = {"request_id": "r", "row": 0, "timestamp": "2026-12-01T10:00:00", "model_version": "1",
        "record": "abc", "MedInc": 8.3, "HouseAge": 41.0, "AveRooms": 6.9, "AveBedrms": 1.0,
        "Population": 322.0, "AveOccup": 2.5, "Latitude": 37.9, "Longitude": -122.2,
        "prediction": 4.4}


def logged(**changes) -> bytes:
    return json.dumps({**GOOD, **changes}).encode() + b"\n"


BAD_LINES = {
    "not UTF-8": b'{"row": 0, "MedInc": \xff}\n',
    "a JSON array": b"[1, 2, 3]\n",
    "an infinite row": logged().replace(b'"row": 0', b'"row": Infinity'),
    "a NaN feature": logged().replace(b'"MedInc": 8.3', b'"MedInc": NaN'),
    "an infinite feature": logged().replace(b'"Latitude": 37.9', b'"Latitude": 1e999'),
    "a missing feature": json.dumps({k: v for k, v in GOOD.items()
                                     if k != "AveOccup"}).encode() + b"\n",
    "a feature as text": logged(HouseAge="forty"),
    "a bad batch name": logged(batch="../etc", offset=0),
    "a 5 MB line": b"{" * 5_000_000 + b"\n",
    "cut short by a crash": logged(row=9)[:40],
}


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_a_bad_log_line_is_skipped_and_counted_never_a_crash(tmp_path, kind):
    (tmp_path / "predictions-h-1.jsonl").write_bytes(
        logged(row=0) + BAD_LINES[kind] + b"\n" + logged(row=1) + logged(row=2)[:-1])
    rows, bad = read_prediction_log(tmp_path)
    assert bad == 1
    assert rows[RECORD_ID].tolist() == ["abc/0", "abc/1", "abc/2"]
    assert rows["MedInc"].tolist() == [8.3, 8.3, 8.3] and rows[BATCH].nunique() == 1


def test_every_bad_line_of_a_file_is_counted_and_good_ones_survive(tmp_path):
    crash = BAD_LINES["cut short by a crash"]  # the end of a file its writer died writing
    (tmp_path / "predictions-h-1.jsonl").write_bytes(
        b"".join(line for line in BAD_LINES.values() if line is not crash)
        + logged(batch="b1", offset=10, row=3) + crash)
    rows, bad = read_prediction_log(tmp_path)
    assert bad == len(BAD_LINES) and rows[RECORD_ID].tolist() == ["b1/13"]


def test_a_long_line_is_never_held_whole(tmp_path):
    """The reader takes a line in pieces of at most MAX_LINE_BYTES."""
    (tmp_path / "predictions-h-1.jsonl").write_bytes(b"x" * (3 * MAX_LINE_BYTES) + b"\n"
                                                     + logged())
    lines = list(log_lines(tmp_path / "predictions-h-1.jsonl"))
    assert lines[0] is None and lines[1] == logged()
