"""Atomic, reproducible file output: write to a temporary file beside the target, then
rename; fixed writer settings so that equal data gives equal bytes on every machine."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where a frame is written, not by every importer
    import pandas as pd


@contextlib.contextmanager
def atomic_path(target: Path | str, mode: int = 0o644, durable: bool = False
                ) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success give it ``mode`` (0o644
    by default: mkstemp's 0o600 would hide outputs from the team), flush it to disk if
    ``durable``, and rename it onto the target. On failure the target is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(data: bytes, target: Path | str, mode: int = 0o644,
                durable: bool = False) -> None:
    with atomic_path(target, mode, durable) as tmp:
        tmp.write_bytes(data)


def write_text(text: str, target: Path | str, mode: int = 0o644) -> None:
    with atomic_path(target, mode) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(data: Any, target: Path | str) -> None:
    """Write sorted, indented JSON atomically, so equal data gives equal bytes."""
    write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", target)


_REQUIRED = object()


def read_json(path: Path | str, default: Any = _REQUIRED) -> Any:
    """The JSON in ``path``; ``default`` if it is given and the file does not exist."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        if default is _REQUIRED:
            raise
        return default
    return json.loads(text)


# Fixed Parquet writer settings: no pandas or Arrow schema metadata (pandas records its own
# version there), format and page versions pinned rather than left to pyarrow's defaults,
# and snappy from pyarrow's own bundled build. The one version string left is Parquet's
# `created_by` (the pinned pyarrow's), which pyarrow does not let a writer set.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "snappy", "version": "2.6", "data_page_version": "1.0",
    "use_dictionary": True, "write_statistics": True, "store_schema": False,
}


def write_parquet(frame: pd.DataFrame, target: Path | str) -> None:
    """Write a frame as Parquet atomically (no index; same frame, same bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)


def write_csv(frame: pd.DataFrame, target: Path | str) -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


def write_joblib(obj: Any, target: Path | str) -> None:
    """Dump an object this pipeline made with joblib, atomically.

    Uncompressed: zlib's output depends on which zlib the machine's Python links (zlib-ng
    distributions compress differently), and the bytes must not.
    """
    import joblib

    with atomic_path(target) as tmp:
        joblib.dump(obj, tmp, compress=0)


def read_joblib(path: Path | str) -> Any:
    """Load a joblib file. Only for files this pipeline wrote itself (dvc-tracked outputs)."""
    import joblib

    return joblib.load(path)


def file_md5(path: Path | str) -> str:
    """MD5 of a file, as DVC records it in dvc.lock."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
