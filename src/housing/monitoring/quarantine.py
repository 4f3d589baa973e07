"""The gate file (data/accepted_batches.json) and the operator's quarantine commands.

The gate file holds what training may use and what it may not:

    {"batches":     [{"batch", "rows", "md5", ...}],   accepted: prepare trains on these
     "quarantined": [{"batch", "rows", "md5", "findings", "outside_share"}],
     "released":    [{"batch", "rows", "md5", "findings"}],
     "dropped":     [{"batch", "rows", "md5", "findings"}]}

The monitor writes "batches" and "quarantined" (a batch with a data-quality finding; it
leaves quarantine by itself when its rows change, say after a fix upstream). An operator
writes "released" (its rows, as they are, may be used: the monitor judges them on drift
alone) and "dropped" (never analysed or used again) with ``housing quarantine``. "md5"
is the batch's feature digest (production.features_digest): a release holds only for
the rows it was given for. The lists other than "batches" are written only when they
hold something, so a workspace without quarantine keeps the file it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from housing.io import read_json, write_json

LISTS = ("quarantined", "released", "dropped")


@dataclass(frozen=True)
class Gate:
    accepted: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    released: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"batches": self.accepted, **{k: getattr(self, k) for k in LISTS
                                             if getattr(self, k)}}

    def decisions(self) -> dict:
        """The operator's part (released, dropped): the monitor reruns when it changes."""
        return {"released": self.released, "dropped": self.dropped}


def read_gate(path: Path) -> Gate:
    if not path.exists():
        return Gate()
    data = read_json(path)
    return Gate(accepted=list(data.get("batches", [])),
                **{k: list(data.get(k, [])) for k in LISTS})


def write_gate(gate: Gate, path: Path) -> None:
    write_json(gate.to_dict(), path)


def _entry(entries: list[dict], batch: str) -> dict | None:
    return next((e for e in entries if e["batch"] == batch), None)


def release(gate: Gate, batch: str) -> tuple[Gate, str]:
    """``gate`` with ``batch`` moved from quarantine to released, and what that did."""
    entry = _entry(gate.quarantined, batch)
    if entry is None:
        raise ValueError(f"batch '{batch}' is not quarantined; quarantined: "
                         f"{', '.join(e['batch'] for e in gate.quarantined) or 'none'}")
    kept = {k: entry[k] for k in ("batch", "rows", "md5", "findings")}
    return (replace(gate, quarantined=[e for e in gate.quarantined if e["batch"] != batch],
                    released=[*[e for e in gate.released if e["batch"] != batch], kept]),
            f"released batch '{batch}' ({entry['rows']} rows) from quarantine: the next "
            "`dvc repro` judges it on drift alone and, labelled and on an alert, trains on "
            "it. If its rows change, it is checked again.")


def drop(gate: Gate, batch: str) -> tuple[Gate, str]:
    """``gate`` with ``batch`` (quarantined or released) dropped, and what that did."""
    entry = _entry(gate.quarantined, batch) or _entry(gate.released, batch)
    if entry is None:
        raise ValueError(f"batch '{batch}' is neither quarantined nor released; quarantined: "
                         f"{', '.join(e['batch'] for e in gate.quarantined) or 'none'}")
    kept = {k: entry[k] for k in ("batch", "rows", "md5", "findings")}
    return (replace(gate, quarantined=[e for e in gate.quarantined if e["batch"] != batch],
                    released=[e for e in gate.released if e["batch"] != batch],
                    dropped=[*[e for e in gate.dropped if e["batch"] != batch], kept]),
            f"dropped batch '{batch}' ({entry['rows']} rows): the monitor never analyses it "
            "again and training never uses it; its files stay under data/production and "
            "data/predictions.")


def describe(gate: Gate) -> list[str]:
    """Lines of `housing quarantine`: each quarantined, released and dropped batch."""
    lines = []
    for kind in LISTS:
        for entry in getattr(gate, kind):
            lines.append(f"{kind}: {entry['batch']} ({entry['rows']} rows)")
            lines.extend(f"  {finding}" for finding in entry.get("findings", []))
    return lines or ["no batch is quarantined, released or dropped"]
