"""What this machine learned about versions, kept across workers and restarts.

Two kinds of record, in a directory only this user can write (the tree cache's rules,
predict.trees.check_directory):

- per artifact, by the sha256 of its bytes: whether it passed the probe, or why it was
  refused. A second worker, or the workers after a SIGHUP, adopt a version that passed
  without probing it again, and refuse one that failed without running it again;
- per registry, model and alias: the last version a worker adopted, and its digest. A
  worker that starts while the alias names a version that fails serves that one instead
  of nothing.

Without a directory (HOUSING_STATE_DIR=off) the records live in the worker's memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from housing.deployment.predict.tree_text import NativeUnavailable

logger = logging.getLogger(__name__)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class KnownGood:
    """The records of one registry, model name and alias (``scope``)."""

    def __init__(self, state_dir: Path | None, scope: str):
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.scope = hashlib.sha256(scope.encode()).hexdigest()[:16]
        self._memory: dict[str, dict] = {}

    def _read(self, name: str) -> dict | None:
        if name in self._memory or self.state_dir is None:
            return self._memory.get(name)
        from housing.deployment.predict.trees import _read_trusted, check_directory

        try:
            check_directory(self.state_dir)
            dir_fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                data = _read_trusted(dir_fd, name)
            finally:
                os.close(dir_fd)
            record = json.loads(data) if data is not None else None
            return record if isinstance(record, dict) else None
        except (NativeUnavailable, OSError, ValueError) as err:
            logger.warning("state record %s not read: %s", name, err)
            return None

    def _write(self, name: str, record: dict) -> None:
        self._memory[name] = record
        if self.state_dir is None:
            return
        from housing.deployment.predict.trees import _private_dir
        from housing.io import write_bytes

        try:
            write_bytes(json.dumps(record, sort_keys=True).encode(),
                        _private_dir(self.state_dir) / name, mode=0o600, durable=True)
        except (NativeUnavailable, OSError) as err:
            logger.warning("state record %s not written: %s", name, err)

    def verdict(self, sha256: str) -> dict | None:
        """{"passed": bool, "reason": str} for an artifact seen before, else None."""
        record = self._read(f"artifact-{sha256}.json")
        return record if record is not None and isinstance(record.get("passed"), bool) \
            else None

    def record_verdict(self, sha256: str, passed: bool, reason: str = "") -> None:
        self._write(f"artifact-{sha256}.json", {"passed": passed, "reason": reason})

    def last(self) -> dict | None:
        """{"version": str, "sha256": str} of the last version adopted, else None."""
        record = self._read(f"last-{self.scope}.json")
        if record is None or not isinstance(record.get("version"), str):
            return None
        return record

    def record_last(self, version: str, sha256: str) -> None:
        self._write(f"last-{self.scope}.json", {"version": version, "sha256": sha256})
