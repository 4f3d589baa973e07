"""The deliberate release steps, `housing promote` and `housing rollback`, and the
challenger alias that every registration and release step keeps current."""

from __future__ import annotations

import logging

from housing.config import MODEL_NAME
from housing.models.gate import (
    CHALLENGER,
    PRODUCTION,
    STAGING,
    VersionRecord,
    choose_challenger,
    promotion_decision,
)
from housing.params import RegisterParams
from housing.registry import events, store
from housing.registry.store import version_metrics

logger = logging.getLogger(__name__)

def version_record(mv) -> VersionRecord:
    rmse = version_metrics(mv).get("rmse")
    return VersionRecord(version=int(mv.version), rmse=rmse,
                         passes=mv.tags.get("gate") == "pass",
                         test_md5=mv.tags.get("test_md5", ""))


def refresh_challenger(name: str = MODEL_NAME) -> int | None:
    """Point challenger at the best passing version outside production (or remove it)."""
    found = store.versions(name)
    if not found:
        return None
    production = store.version_by_alias(name, PRODUCTION)
    basis = production or found[-1]
    chosen = choose_challenger([version_record(mv) for mv in found],
                               int(production.version) if production else None,
                               basis.tags.get("test_md5", ""))
    current = store.version_by_alias(name, CHALLENGER)
    if chosen is None and current is not None:
        store.delete_alias(name, CHALLENGER)
    elif chosen is not None and (current is None or int(current.version) != chosen):
        store.set_alias(name, CHALLENGER, chosen)
    return chosen


def chosen_version(name: str, *, version: int | None = None, experiment: str | None = None):
    """The version asked for by number, or the newest one a DVC experiment registered."""
    if version is not None:
        return store.get_version(name, version)
    found = store.versions(name, experiment=experiment)
    if not found:
        raise ValueError(f"no version of {name} was registered by experiment {experiment!r} "
                         "(`housing history` lists the experiments' versions)")
    return found[-1]


def promote(thresholds: RegisterParams, *, reason: str, version: int | None = None,
            experiment: str | None = None, force: bool = False,
            name: str = MODEL_NAME) -> dict:
    """Move production to a registered version through the same gate as the register stage
    (recorded metrics on the same test set, and the live evidence the monitor recorded when
    register.min_live_rows asks for it); ``force`` overrides a refusal, on the record."""
    target = chosen_version(name, version=version, experiment=experiment)
    current = store.version_by_alias(name, PRODUCTION)
    if current is not None and int(current.version) == int(target.version):
        raise ValueError(f"version {target.version} of {name} is already in production")
    problems = []
    if current is not None and current.tags.get("test_md5") != target.tags.get("test_md5"):
        problems.append(f"version {target.version} and production version {current.version} "
                        "were evaluated on different test sets")
    live = events.live_evidence(name, target.version, current.version) if current else None
    decision = promotion_decision(version_metrics(target),
                                  version_metrics(current) if current else None, thresholds,
                                  live)
    if not decision.promoted:
        problems += list(decision.reasons)
    if problems and not force:
        raise ValueError(f"the gate refuses version {target.version}: {'; '.join(problems)} "
                         "(--force overrides it, and the override is recorded)")
    if decision.passes:
        store.set_alias(name, STAGING, target.version)
    store.set_alias(name, PRODUCTION, target.version)
    event = events.record_event(name, target.version, {
        "event": "promote", "previous": int(current.version) if current else None,
        "reason": reason, "forced": bool(problems), "gate": problems or list(decision.reasons),
        "rmse": decision.candidate.get("rmse"),
        "production_rmse": decision.production["rmse"] if decision.production else None,
        "experiment": target.tags.get("experiment"), "live": live})
    refresh_challenger(name)
    logger.info("production alias of %s moved from %s to %s%s", name, event["previous"],
                target.version, " (forced past the gate)" if problems else "")
    return event


def rollback(*, version: int, reason: str = "", name: str = MODEL_NAME) -> dict:
    """Point the production alias back at an earlier registered version."""
    target = store.get_version(name, version)
    previous = store.version_by_alias(name, PRODUCTION)
    store.set_alias(name, PRODUCTION, target.version)
    event = events.record_event(name, target.version, {
        "event": "rollback", "previous": int(previous.version) if previous else None,
        "reason": reason})
    refresh_challenger(name)
    logger.info("production alias of %s moved from %s to %s", name, event["previous"],
                target.version)
    return event
