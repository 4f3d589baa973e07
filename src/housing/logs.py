"""Logging set-up, done once at each entry point."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(stage: str | None = None, level: int = logging.INFO,
                      log_dir: Path | None = None) -> None:
    """Log to stderr and, for a pipeline stage, also to logs/<stage>.log."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if stage and log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_dir / f"{stage}.log"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    # Chatty libraries: keep their warnings, drop their info lines.
    for name in ("alembic", "mlflow", "urllib3", "git", "matplotlib", "numexpr"):
        logging.getLogger(name).setLevel(logging.WARNING)
