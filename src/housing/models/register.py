"""The register stage: the model dvc.lock describes, as a registered version of the
configured store, through the release gate.

It runs on every `dvc repro` (dvc.yaml: always_changed), so a fresh clone or a new
tracking server ends with the model registered. A version is identified by the
fingerprint of what it registers (the model, the test set, the register params): when the
store already holds it, the stage registers nothing and moves no alias, at the cost of
hashing two files and one read-only look-up. Inside `dvc exp run` the version is tagged
with the experiment and the gate's decision is recorded, but production and staging stay
where they are: `housing promote` is the reviewed step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from typing import Any

from housing.config import FEATURES, MODEL_NAME, TARGET, RegisterPaths, experiment_context
from housing.io import file_md5, read_json, write_json
from housing.models.gate import PRODUCTION, promotion_decision
from housing.models.release import refresh_challenger
from housing.params import RegisterParams
from housing.registry import events, lookup, store

logger = logging.getLogger(__name__)


def fingerprint(model_md5: str, test_md5: str, params: RegisterParams) -> str:
    """The identity of a registration: the model, the test set and the gate's params."""
    key = json.dumps({"model": model_md5, "test": test_md5,
                      "register": params.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def git_commit() -> str:
    """The checked-out commit, or 'unknown' outside a git repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def training_ranges(train) -> dict[str, dict[str, float]]:
    """Min and max of each raw feature over the training set (the service flags values outside)."""
    return {c: {"min": float(train[c].min()), "max": float(train[c].max())} for c in FEATURES}


def run(params: RegisterParams, paths: RegisterPaths, *, model_name: str = MODEL_NAME) -> dict:
    """Register the model unless the store holds it already; apply the gate if it registers."""
    test_md5 = file_md5(paths.test)
    fp = fingerprint(file_md5(paths.model), test_md5, params)
    existing = lookup.fingerprint_version(model_name, fp)
    if existing is None:
        return register_new(params, paths, model_name=model_name, fp=fp, test_md5=test_md5)
    logger.info("register: %s version %s already holds this model (fingerprint %s); nothing "
                "registered, no alias moved", model_name, existing, fp)
    last = read_json(paths.registry, {})
    if last.get("fingerprint") == fp and last.get("version") == existing:
        return {**last, "registered": False}  # the file keeps the registration's decision
    outcome = {"model_name": model_name, "version": existing, "fingerprint": fp,
               "registered": False}
    write_json(outcome, paths.registry)
    return outcome


def production_metrics(model_name: str, test_md5: str, test) -> dict[str, float] | None:
    """The production version's test metrics on this test set: its recorded ones when it
    was evaluated on the same test set, else recomputed with its own model."""
    from housing.models.metrics import regression_metrics

    current = store.version_by_alias(model_name, PRODUCTION)
    if current is None:
        return None
    recorded = store.version_metrics(current)
    if current.tags.get("test_md5") != test_md5 or "rmse" not in recorded:
        model = store.load_model(model_name, current.version)
        recorded = regression_metrics(test[TARGET].to_numpy(dtype=float),
                                      model.predict(test[list(FEATURES)]))
    return {"version": int(current.version), **recorded}


def register_new(params: RegisterParams, paths: RegisterPaths, *, model_name: str, fp: str,
                 test_md5: str) -> dict:
    """Log and register the model, tag it, and move the aliases the gate allows."""
    import pandas as pd

    from housing.io import read_joblib
    from housing.registry.serialization import required_trusted_types

    model = read_joblib(paths.model)
    test = pd.read_parquet(paths.test)
    candidate = read_json(paths.metrics)["model"]
    trusted = required_trusted_types(model)
    decision = promotion_decision(candidate, production_metrics(model_name, test_md5, test),
                                  params)
    experiment = experiment_context()
    version, run_id = log_version(model, params, paths, model_name=model_name, test=test,
                                  metrics=candidate, decision=decision, trusted=trusted)
    store.set_version_tags(model_name, version, {
        "fingerprint": fp, "test_md5": test_md5, "run_id": run_id,
        "gate": "pass" if decision.passes else "fail", **store.experiment_tags(),
        **{f"test_{k}": v for k, v in candidate.items()}})
    applied = () if experiment else decision.aliases
    for alias in applied:
        store.set_alias(model_name, alias, version)
    challenger = refresh_challenger(model_name)
    production = decision.production
    events.record_event(model_name, version, {
        "event": "register", "aliases": list(applied), "would_promote": decision.promoted,
        "reasons": list(decision.reasons), "rmse": candidate["rmse"], "run_id": run_id,
        "production_version": production["version"] if production else None,
        "production_rmse": production["rmse"] if production else None,
        **store.experiment_tags()})
    outcome = {"model_name": model_name, "version": int(version), "run_id": run_id,
               "fingerprint": fp, "registered": True, "trusted_types": trusted,
               "experiment": experiment.name if experiment else None,
               "challenger": challenger, **decision.to_dict(), "aliases": list(applied),
               "would_promote": decision.promoted}
    write_json(outcome, paths.registry)
    if experiment:
        logger.info("registered %s version %s for experiment %s; production and staging stay "
                    "(%s promote: %s)", model_name, version, experiment.name,
                    "would" if decision.promoted else "would not", "; ".join(decision.reasons))
    else:
        logger.info("registered %s version %s with aliases %s", model_name, version,
                    ", ".join(applied) or "none")
    return outcome


def log_version(model, params: RegisterParams, paths: RegisterPaths, *, model_name: str,
                test, metrics: dict, decision, trusted: list[str]) -> tuple[str, str]:
    """Log the model with its example, reference predictions, ranges, params and lineage,
    and register it: (version, run id)."""
    import pandas as pd

    predictions = model.predict(test[list(FEATURES)])
    best = read_json(paths.best_params)
    return store.register_model(
        model, name=model_name, example=test[list(FEATURES)], predictions=predictions,
        reference=test.assign(prediction=predictions),
        trusted_types=trusted,
        documents={store.DECISION_ARTIFACT: decision.to_dict(),
                   store.RANGES_ARTIFACT: training_ranges(pd.read_parquet(paths.train)),
                   store.BEST_PARAMS_ARTIFACT: best},
        params=flatten({"register": params.model_dump(), "best": best}),
        metrics=metrics, tags={
            "git_commit": git_commit(), f"dvc_md5.{paths.model.as_posix()}": file_md5(paths.model),
            **{f"dvc_md5.{p.as_posix()}": file_md5(p) for p in (paths.train, paths.test)}})
