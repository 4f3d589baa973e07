"""The prediction log's lines: one JSON object per predicted row, with the challenger's
prediction beside production's where the row was shadowed (deployment.shadow)."""

from __future__ import annotations

import numpy as np
import orjson

from housing.config import FEATURES

Source = tuple[str | None, int, str | None, str | None]  # batch, offset, record, traffic
# The challenger's version and its predictions for one request's rows.
Challenger = tuple[str, np.ndarray]


def format_lines(request_id: str, timestamp: str, model_version: str, rows: np.ndarray,
                 predictions: np.ndarray, source: Source = (None, 0, None, None),
                 challenger: Challenger | None = None) -> bytes:
    """One JSON line per row: request, row index, time, version, the row's identity
    (``source``: the batch a key holder named and the first row's offset in it, or the
    record id the service drew; ``"traffic": "test"`` where the client marked it so),
    features, prediction, and where shadowed the challenger's version and prediction."""
    batch, offset, record, traffic = source
    head = {"request_id": request_id, "row": 0, "timestamp": timestamp,
            "model_version": model_version,
            **({"batch": batch, "offset": offset} if batch else {"record": record}),
            **({"traffic": traffic} if traffic else {})}
    shadowed = challenger[1].tolist() if challenger is not None else None
    out = []
    for i, (row, pred) in enumerate(zip(rows.tolist(), predictions.tolist())):
        line = dict(head, row=i)
        line.update(zip(FEATURES, row))
        line["prediction"] = pred
        if shadowed is not None:
            line["challenger_version"], line["challenger_prediction"] = \
                challenger[0], shadowed[i]
        out.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    return b"".join(out)
