"""The monitor stage: the retrain gate in front of training.

Reference: the production version's own test-set features, targets and predictions,
logged with it at register time. Analysis: every production batch not yet accepted
into training. The stage runs on every `dvc repro`, so it first does the cheap checks
(which production version is live, a hash of the production files, its params; with an
object store, a listing of its log objects, downloading only the new ones) and
stops there when nothing changed since its last run; only then does it import NannyML,
MLflow or the model (housing.monitoring.analysis).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from housing.config import MODEL_NAME, MonitorPaths
from housing.data.log_objects import STORE_COPIES, sync
from housing.io import file_md5, read_json, write_json
from housing.log_store import LogStore
from housing.models.gate import PRODUCTION
from housing.monitoring.quarantine import Gate, read_gate
from housing.params import MonitorParams
from housing.registry import events
from housing.registry.lookup import alias_version

logger = logging.getLogger(__name__)


def data_fingerprint(*folders: Path) -> str:
    """A hash of every production file (batches, labels, the prediction log): what the
    monitor has seen. Reading a few files is cheap; NannyML and the model are not."""
    digest = hashlib.md5()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
            digest.update(f"{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(file_md5(path).encode())
    return digest.hexdigest()


def review_metrics(gate: Gate, params: MonitorParams) -> dict[str, int]:
    """The monitor's DVC metric: what it has accepted into training and what it holds in
    quarantine, and how many of those batches DLE could not judge reliably (their rows
    left the reference's support). It depends only on data/accepted_batches.json, which
    DVC holds, so a clone reproduces it; per-batch findings, hashes and the production
    version stay in the local state file."""
    judged = [*gate.accepted, *gate.quarantined]
    return {"accepted_batches": len(gate.accepted),
            "accepted_rows": sum(int(b.get("rows", 0)) for b in gate.accepted),
            "quarantined_batches": len(gate.quarantined),
            "quarantined_rows": sum(int(b.get("rows", 0)) for b in gate.quarantined),
            "unreliable_estimates": sum(float(b.get("outside_share", 0.0))
                                        > params.dle_max_outside_share for b in judged)}


def run(params: MonitorParams, paths: MonitorPaths, *, model_name: str = MODEL_NAME) -> dict:
    """Analyse new production data against the production version; update the gate file,
    the review metrics and the local state."""
    gate = read_gate(paths.accepted)
    if (store := LogStore.from_env()) is not None:  # every replica's log, copied here once
        sync(store, paths.predictions_dir / STORE_COPIES)
    seen = {"production_version": alias_version(model_name, PRODUCTION),
            "data_fingerprint": data_fingerprint(paths.production_dir, paths.predictions_dir),
            "params": params.model_dump(), "decisions": gate.decisions()}
    last = read_json(paths.state, {})
    if (all(last.get(k) == v for k, v in seen.items()) and paths.plots.exists()
            and paths.accepted.exists() and paths.accepted_dir.is_dir()
            and paths.warm_start.exists()):
        if not paths.metrics.exists() or read_json(paths.metrics) != review_metrics(gate, params):
            write_json(review_metrics(gate, params), paths.metrics)
        logger.info("monitor: nothing new since the last run (production version %s, same "
                    "production data); outputs left as they are", seen["production_version"])
        return last

    from housing.monitoring.analysis import analyse

    summary = analyse(params, paths, model_name=model_name, seen=seen, gate=gate)
    write_json(review_metrics(read_gate(paths.accepted), params), paths.metrics)
    for evidence in summary["shadow"]:  # on the challenger's version: `housing promote` reads it
        events.record_live_evidence(model_name, evidence)
    return summary
