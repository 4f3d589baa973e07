"""The release history: every registration, promotion and rollback, recorded as a tag of
the version it concerns, so every machine that reads the registry reads the same history."""

from __future__ import annotations

import datetime as dt
import json

from housing.registry import store

EVENT_TAG = "housing.event."


def record_event(name: str, version: int | str, event: dict) -> dict:
    """Record ``event`` (its kind under "event") on ``version``; return it as recorded."""
    now = dt.datetime.now(dt.UTC)
    event = {"at": now.isoformat(timespec="microseconds"), "model_name": name,
             "version": int(version), **event}
    store.set_version_tags(name, version, {EVENT_TAG + now.strftime("%Y%m%dT%H%M%S.%fZ"):
                                           json.dumps(event, sort_keys=True)})
    return event


def record_refusal(name: str, version: int | str, *, alias: str, reason: str) -> bool:
    """Record that a service refused ``version`` (once per version and reason: every
    worker that tries it says the same); True if recorded now."""
    mv = store.get_version(name, version)
    for key, value in mv.tags.items():
        if key.startswith(EVENT_TAG):
            seen = json.loads(value)
            if seen.get("event") == "refuse" and seen.get("reason") == reason:
                return False
    record_event(name, version, {"event": "refuse", "alias": alias, "reason": reason})
    return True


def live_evidence(name: str, version: int | str, production: int | str) -> dict | None:
    """The newest live evidence the monitor recorded for ``version`` against production
    version ``production`` (a "shadow" event), or None."""
    mv = store.get_version(name, version)
    found = [json.loads(value) for key, value in mv.tags.items() if key.startswith(EVENT_TAG)]
    found = [e for e in found if e.get("event") == "shadow"
             and int(e.get("production_version", -1)) == int(production)]
    return max(found, key=lambda e: e["at"]) if found else None


def record_live_evidence(name: str, evidence: dict) -> bool:
    """Record the monitor's comparison of a challenger with production on the challenger's
    version, unless the newest one recorded says the same; True if recorded now."""
    version = evidence["challenger_version"]
    last = live_evidence(name, version, evidence["production_version"])
    if last is not None and all(last.get(k) == v for k, v in evidence.items()):
        return False
    record_event(name, version, {"event": "shadow", **evidence})
    return True


def history(name: str) -> list[dict]:
    """Every recorded event of ``name``, oldest first."""
    events = [json.loads(value) for mv in store.versions(name)
              for key, value in mv.tags.items() if key.startswith(EVENT_TAG)]
    return sorted(events, key=lambda e: e["at"])


def describe_event(event: dict) -> str:
    """What ``event`` records, in one line without its time or the operator's reason: the
    text of `housing history` and of the dashboard's history. A record this project did
    not write whole is named, not a crash."""
    try:
        return _describe(event)
    except (KeyError, TypeError, ValueError):
        return f"{str(event.get('event', 'event'))[:40]}: an unreadable record"


def format_event(event: dict) -> str:
    """One line of `housing history`."""
    reason = event.get("reason") if event.get("event") != "refuse" else None
    return f"{event.get('at', '')}  {describe_event(event)}" + (f" ({reason})" if reason else "")


def _describe(event: dict) -> str:
    kind = event["event"]
    if kind == "rollback":
        return f"rollback: production {event['previous']} -> {event['version']}"
    if kind == "quarantine":
        return (f"quarantine: batch {event['batch']} ({event.get('rows')} rows) against "
                f"production {event['version']}: " + "; ".join(event.get("reasons", [])))
    if kind in ("release", "drop"):
        return f"{kind}: batch {event['batch']} " + (
            "released from quarantine" if kind == "release" else "dropped for good")
    if kind == "refuse":
        return (f"refuse: version {event['version']} ({event['alias']}) refused by the "
                f"service, which kept serving the version before it: {event['reason']}")
    if kind == "shadow":
        low, high = event["interval"]
        return (f"shadow: challenger {event['version']} against production "
                f"{event['production_version']} on {event['labelled_rows']} labelled live "
                f"rows: RMSE {event['challenger_rmse']:.4f} vs {event['production_rmse']:.4f}, "
                f"difference {event['difference']:+.4f} [{low:+.4f}, {high:+.4f}] "
                f"({event['confidence']:.0%})")
    if kind == "promote":
        return (f"promote: production {event['previous']} -> {event['version']}"
                + (" (forced past the gate)" if event.get("forced") else ""))
    where = (f" in experiment {event['experiment']} (baseline "
             f"{str(event.get('baseline_rev', ''))[:7]})" if event.get("experiment") else "")
    aliases = ", ".join(event.get("aliases", [])) or "no alias moved"
    what = (f"register version {event['version']}{where}: {aliases}; "
            f"RMSE {event['rmse']:.4f}" + (f" vs production {event['production_rmse']:.4f}"
                                           if event.get("production_rmse") else ""))
    if event.get("experiment"):
        what += "; would promote" if event.get("would_promote") else "; would not promote"
    return what
