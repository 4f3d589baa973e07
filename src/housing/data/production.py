"""Production data: batch files, the service's prediction log, and late labels.

Layout under the workspace's data/ (git-ignored: it is state that arrives, like the
registry, and experiments in temporary copies read it from the workspace):

    production/batches/<batch>.parquet   record_id + the 8 features
    production/labels/<name>.parquet     record_id + MedHouseVal, arriving later
    predictions/*.jsonl                  the service's log (request_id, row, features, ...)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from housing.config import FEATURES, TARGET

BATCH = "batch"
RECORD_ID = "record_id"


def read_batch_files(production_dir: Path) -> pd.DataFrame:
    """Every data/production/batches/<batch>.parquet, with its batch name."""
    frames = [pd.read_parquet(path).assign(**{BATCH: path.stem})
              for path in sorted((production_dir / "batches").glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def _record(line: dict) -> tuple[str, str]:
    """(batch, record_id) of a logged row. Simulator requests are '<batch>@<offset>';
    other traffic is grouped by day."""
    request_id, row = str(line["request_id"]), int(line["row"])
    name, sep, offset = request_id.partition("@")
    if sep and offset.isdigit():
        return name, f"{name}/{int(offset) + row}"
    return f"service-{str(line.get('timestamp', ''))[:10]}", f"{request_id}/{row}"


def read_prediction_log(predictions_dir: Path) -> pd.DataFrame:
    """The service's JSON-lines log, as the same columns as the batch files."""
    rows = []
    for path in sorted(predictions_dir.glob("*.jsonl")):
        for text in path.read_text().splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:  # a line cut short by a crash: skip it
                continue
            batch, record_id = _record(line)
            rows.append({RECORD_ID: record_id, **{f: line[f] for f in FEATURES},
                         BATCH: batch})
    return pd.DataFrame(rows) if rows else _empty()


def read_labels(production_dir: Path) -> pd.DataFrame:
    """Late labels: data/production/labels/*.parquet, keyed by record_id."""
    frames = [pd.read_parquet(p) for p in sorted((production_dir / "labels").glob("*.parquet"))]
    if not frames:
        return pd.DataFrame({RECORD_ID: pd.Series(dtype=str), TARGET: pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True).drop_duplicates(RECORD_ID, keep="last")


def production_frame(production_dir: Path, predictions_dir: Path) -> pd.DataFrame:
    """All production rows (record_id, features, batch) with their label where one exists."""
    rows = pd.concat([read_batch_files(production_dir), read_prediction_log(predictions_dir)],
                     ignore_index=True).drop_duplicates(RECORD_ID, keep="first")
    return rows.merge(read_labels(production_dir), on=RECORD_ID, how="left")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({RECORD_ID: pd.Series(dtype=str),
                         **{f: pd.Series(dtype=float) for f in FEATURES},
                         BATCH: pd.Series(dtype=str)})


def batch_digest(rows: pd.DataFrame) -> str:
    """A content hash of a batch's labelled rows (what prepare trains on)."""
    ordered = rows.sort_values(RECORD_ID)[[RECORD_ID, *FEATURES, TARGET]]
    return hashlib.md5(ordered.to_csv(index=False, float_format="%.10g").encode()).hexdigest()


def accepted_rows(accepted: list[dict], accepted_dir: Path) -> pd.DataFrame:
    """The labelled rows of the accepted batches (data/accepted/<batch>.parquet, which the
    monitor wrote and DVC tracks), checked against the hashes recorded at acceptance."""
    if not accepted:
        return pd.DataFrame(columns=[RECORD_ID, *FEATURES, TARGET])
    parts = []
    for entry in accepted:
        path = accepted_dir / f"{entry['batch']}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"accepted batch '{entry['batch']}': {path} is missing "
                                    "(run `dvc pull` to fetch it from the remote)")
        batch = pd.read_parquet(path)
        if batch_digest(batch) != entry["md5"]:
            raise ValueError(f"accepted batch '{entry['batch']}' changed since it was accepted "
                             f"(md5 {batch_digest(batch)} != {entry['md5']})")
        parts.append(batch[[RECORD_ID, *FEATURES, TARGET]])
    return pd.concat(parts, ignore_index=True)
