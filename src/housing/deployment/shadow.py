"""The shadow challenger: the registry's ``challenger`` version scores production traffic
off the request path, and the prediction log keeps its prediction beside production's.

A request never waits for it. The log's writer thread, which already takes the queued
requests in batches every ``flush_seconds``, hands each batch here before it formats the
lines: a share of the requests (``HOUSING_SHADOW_SHARE``; 0 switches shadowing off) is
scored by the challenger in one call on the array path, and their lines carry
``challenger_version`` and ``challenger_prediction``. The work is bounded by the log's
own bounded queue: while the writer is behind by more than ``MAX_BEHIND_ROWS`` rows,
shadow work is dropped, never the rows themselves, and counted
(``housing_shadow_rows_total{outcome="dropped"}``), as are rows scored and rows whose
scoring failed. With several replicas the evidence comes from the shared log, which the
monitor reads (monitoring.shadow).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from housing.deployment.log_lines import Challenger

logger = logging.getLogger(__name__)

MAX_BEHIND_ROWS = 10_000  # rows queued for the log beyond which shadow work is dropped
ROWS, VERSION = 3, 2      # positions in a queued log item (prediction_log.write)


class Shadow:
    """Scores batches of queued log items with the challenger ``current()`` returns."""

    def __init__(self, current: Callable[[], Any], share: float, counter=None,
                 seed: int | None = None):
        if not 0 <= share <= 1:
            raise ValueError(f"the shadow share must lie in [0, 1], got {share}")
        self.current, self.share, self.counter = current, share, counter
        self.random = random.Random(seed)

    def _count(self, outcome: str, rows: int) -> None:
        if self.counter is not None and rows:
            self.counter.labels(outcome).inc(rows)

    def score(self, items: Sequence[tuple], behind_rows: int) -> dict[int, Challenger]:
        """The challenger's predictions for the sampled items of one batch, by position;
        {} without a challenger (or one that is production), when shadowing is off, or
        when the writer is behind (counted)."""
        model = self.current() if self.share > 0 else None
        if model is None:
            return {}
        picked = [i for i, item in enumerate(items)
                  if item[VERSION] != model.version and self.random.random() < self.share]
        rows = sum(len(items[i][ROWS]) for i in picked)
        if behind_rows > MAX_BEHIND_ROWS:
            self._count("dropped", rows)
            return {}
        if not picked:
            return {}
        try:
            values = model.predict(np.concatenate([items[i][ROWS] for i in picked]))
        except Exception:  # the challenger never costs production a row
            logger.exception("shadow scoring by version %s failed", model.version)
            self._count("failed", rows)
            return {}
        self._count("scored", rows)
        bounds = np.cumsum([0, *(len(items[i][ROWS]) for i in picked)])
        return {i: (model.version, values[bounds[k]:bounds[k + 1]])
                for k, i in enumerate(picked)}
