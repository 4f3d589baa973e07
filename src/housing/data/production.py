"""Production data: batch files, the service's prediction log, and late labels.

Layout under the workspace's data/ (git-ignored: it is state that arrives, like the
registry, and experiments in temporary copies read it from the workspace):

    production/batches/<batch>.parquet   record_id + the 8 features
    production/labels/<name>.parquet     record_id + MedHouseVal, arriving later
    predictions/*.jsonl                  the service's log (request_id, row, features, ...)
    predictions/store/*.jsonl            the same, shipped by every replica to the object
                                         store and copied here (data/log_objects.py)

Identity belongs to the server, not to a client. A logged row's record id is
``<batch>/<offset + row>`` when a key holder named the batch (the service's
X-Housing-Batch header: ``housing simulate --url`` sends it), and otherwise
``<record>/<row>`` with a record id the service drew for the request; such traffic is
grouped by day as the batch ``service-<date>``. A client's X-Request-ID is only echoed
and logged, never read here. Rows a client marked as test traffic (X-Housing-Traffic:
test: load tests, benchmarks, ``housing simulate --url``) are logged with
``"traffic": "test"`` and left out here, so they never reach the monitor. Batch names are
checked (``check_batch_name``) before they name anything, files included.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, create_model

from housing.config import FEATURES, TARGET

BATCH = "batch"
RECORD_ID = "record_id"
SERVICE_BATCH_PREFIX = "service-"
# A batch name becomes a file name (data/accepted/<batch>.parquet): letters, digits and
# ._- only, starting with a letter or digit, at most 64 characters.
BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_OFFSET = 10**9
# A logged row is a few hundred bytes: a longer line is not one, and is skipped unread.
MAX_LINE_BYTES = 64 * 1024

logger = logging.getLogger(__name__)


def check_batch_name(name: str) -> str:
    """``name`` if it is a safe batch name; ValueError naming the rule otherwise."""
    if not isinstance(name, str) or not BATCH_NAME.fullmatch(name):
        raise ValueError(f"batch name {str(name)[:80]!r} is not 1-64 letters, digits or "
                         "._- starting with a letter or digit")
    return name


def claimed_batch(header: str) -> tuple[str, int]:
    """(batch, offset) of an X-Housing-Batch header, ``<batch>`` or ``<batch>@<offset>``
    (the first row's index in the batch); ValueError naming what is wrong."""
    name, sep, offset = header.partition("@")
    check_batch_name(name)
    if name.startswith(SERVICE_BATCH_PREFIX):
        raise ValueError(f"batch names starting with '{SERVICE_BATCH_PREFIX}' are the "
                         "service's own")
    if sep and not (offset.isascii() and offset.isdigit() and int(offset) < MAX_OFFSET):
        raise ValueError(f"batch offset {offset[:20]!r} is not an integer below {MAX_OFFSET}")
    return name, int(offset) if sep else 0


# What the service logged beside each row: the version that answered and its prediction,
# and the shadow challenger's where the request was shadowed (deployment.shadow).
# The log's field -> the frame's column.
SERVED_FIELDS = {"model_version": "served_version", "prediction": "served_prediction",
                 "challenger_version": "challenger_version",
                 "challenger_prediction": "challenger_prediction"}
SERVED = tuple(SERVED_FIELDS.values())


def read_batch_files(production_dir: Path) -> pd.DataFrame:
    """Every data/production/batches/<batch>.parquet, with its batch name."""
    frames = [pd.read_parquet(path).assign(**{BATCH: check_batch_name(path.stem)})
              for path in sorted((production_dir / "batches").glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True) if frames else _empty()


class _LoggedRowBase(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # request id

    row: int = Field(ge=0, lt=MAX_OFFSET)
    model_version: str | None = Field(None, max_length=16)
    prediction: FiniteFloat | None = None
    challenger_version: str | None = Field(None, max_length=16)
    challenger_prediction: FiniteFloat | None = None
    timestamp: str = ""
    batch: str | None = Field(None, pattern=f"^{BATCH_NAME.pattern}$")
    offset: int = Field(0, ge=0, lt=MAX_OFFSET)
    record: str | None = Field(None, max_length=64)
    traffic: str | None = None


# One line of the service's log (deployment/prediction_log.py writes it): the row's place
# and identity, and the eight features, each a finite number.
LoggedRow = create_model("LoggedRow", __base__=_LoggedRowBase,
                         **dict.fromkeys(FEATURES, (FiniteFloat, ...)))


def _record(line: BaseModel, where: str) -> tuple[str, str]:
    """(batch, record_id) of a logged row (see the module's docstring); ``where`` is the
    line's place in the log, the record id of a line the service logged without one."""
    if line.batch:
        return line.batch, f"{line.batch}/{line.offset + line.row}"
    day = f"{SERVICE_BATCH_PREFIX}{line.timestamp[:10]}"
    return day, f"{line.record}/{line.row}" if line.record else where


def log_lines(path: Path) -> Iterator[bytes | None]:
    """Each line of one log file as bytes, read in bounded pieces; None for a line longer
    than MAX_LINE_BYTES (its rest is read past, never held)."""
    with path.open("rb") as file:
        while line := file.readline(MAX_LINE_BYTES + 1):
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := file.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield None
            elif line.strip():
                yield line


def read_prediction_log(predictions_dir: Path) -> tuple[pd.DataFrame, int]:
    """The service's JSON-lines log, as the same columns as the batch files, and how many
    lines were skipped as unreadable (not UTF-8 JSON, not a logged row, a feature that is
    not a finite number, cut short by a crash): no line can stop the monitor."""
    rows, bad, synthetic = [], 0, 0
    for path in sorted(predictions_dir.rglob("*.jsonl")):  # store/: the object store's
        for number, raw in enumerate(log_lines(path), start=1):
            try:
                line = LoggedRow.model_validate_json(raw if raw is not None else b"")
            except ValidationError:
                bad += 1
                continue
            if line.traffic == "test":
                synthetic += 1
                continue
            batch, record_id = _record(line, f"{path.name}:{number}")
            rows.append({RECORD_ID: record_id, **{f: getattr(line, f) for f in FEATURES},
                         BATCH: batch,
                         **{c: getattr(line, f) for f, c in SERVED_FIELDS.items()}})
    if bad:
        logger.warning("prediction log: skipped %d unreadable lines", bad)
    if synthetic:
        logger.info("prediction log: left out %d rows marked as test traffic", synthetic)
    return (pd.DataFrame(rows) if rows else _empty(served=True)), bad


def read_labels(production_dir: Path) -> pd.DataFrame:
    """Late labels: data/production/labels/*.parquet, keyed by record_id."""
    frames = [pd.read_parquet(p) for p in sorted((production_dir / "labels").glob("*.parquet"))]
    if not frames:
        return pd.DataFrame({RECORD_ID: pd.Series(dtype=str), TARGET: pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True).drop_duplicates(RECORD_ID, keep="last")


def production_frame(production_dir: Path, predictions_dir: Path) -> tuple[pd.DataFrame, int]:
    """All production rows (record_id, features, batch) with their label where one exists,
    and the number of unreadable prediction-log lines skipped."""
    logged, bad_lines = read_prediction_log(predictions_dir)
    rows = pd.concat([read_batch_files(production_dir), logged.drop(columns=list(SERVED))],
                     ignore_index=True).drop_duplicates(RECORD_ID, keep="first")
    # what the service answered (and its challenger in shadow), for every logged record
    served = logged[[RECORD_ID, *SERVED]].drop_duplicates(RECORD_ID, keep="first")
    rows = rows.merge(served, on=RECORD_ID, how="left")
    return rows.merge(read_labels(production_dir), on=RECORD_ID, how="left"), bad_lines


def _empty(served: bool = False) -> pd.DataFrame:
    return pd.DataFrame({RECORD_ID: pd.Series(dtype=str),
                         **{f: pd.Series(dtype=float) for f in FEATURES},
                         BATCH: pd.Series(dtype=str),
                         **{c: pd.Series(dtype=object if c.endswith("version") else float)
                            for c in (SERVED if served else ())}})


def batch_digest(rows: pd.DataFrame) -> str:
    """A content hash of a batch's labelled rows (what prepare trains on)."""
    ordered = rows.sort_values(RECORD_ID)[[RECORD_ID, *FEATURES, TARGET]]
    return hashlib.md5(ordered.to_csv(index=False, float_format="%.10g").encode()).hexdigest()


def features_digest(rows: pd.DataFrame) -> str:
    """A content hash of a batch's record ids and features, labels left out: what a
    quarantine or a release holds for (labels arriving later do not change it)."""
    ordered = rows.sort_values(RECORD_ID)[[RECORD_ID, *FEATURES]]
    return hashlib.md5(ordered.to_csv(index=False, float_format="%.10g").encode()).hexdigest()


def accepted_rows(accepted: list[dict], accepted_dir: Path) -> pd.DataFrame:
    """The labelled rows of the accepted batches (data/accepted/<batch>.parquet, which the
    monitor wrote and DVC tracks), checked against the hashes recorded at acceptance."""
    if not accepted:
        return pd.DataFrame(columns=[RECORD_ID, *FEATURES, TARGET])
    parts = []
    for entry in accepted:
        path = accepted_dir / f"{check_batch_name(entry['batch'])}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"accepted batch '{entry['batch']}': {path} is missing "
                                    "(run `dvc pull` to fetch it from the remote)")
        batch = pd.read_parquet(path)
        if batch_digest(batch) != entry["md5"]:
            raise ValueError(f"accepted batch '{entry['batch']}' changed since it was accepted "
                             f"(md5 {batch_digest(batch)} != {entry['md5']})")
        parts.append(batch[[RECORD_ID, *FEATURES, TARGET]])
    return pd.concat(parts, ignore_index=True)
