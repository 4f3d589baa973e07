"""Append-only prediction log that the monitoring stage reads (JSON lines).

Each worker process appends to its own file, one write per request, so several
gunicorn workers never interleave lines.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pandas as pd

from housing.config import FEATURES


class PredictionLog:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._pid: int | None = None
        self._fd: int | None = None

    def _open(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._pid != pid:  # after a fork, open this worker's own file
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"predictions-{socket.gethostname()}-{pid}.jsonl"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._pid = pid
        return self._fd

    def write(self, *, request_id: str, timestamp: str, model_version: str,
              frame: pd.DataFrame, predictions) -> None:
        rows = frame[list(FEATURES)].to_numpy().tolist()
        lines = [
            json.dumps({"request_id": request_id, "row": i, "timestamp": timestamp,
                        "model_version": model_version, **dict(zip(FEATURES, row)),
                        "prediction": float(pred)})
            for i, (row, pred) in enumerate(zip(rows, predictions))
        ]
        os.write(self._open(), ("\n".join(lines) + "\n").encode())
