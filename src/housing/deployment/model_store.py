"""Load the registry's production version safely, and swap it when the alias moves."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from housing.config import FEATURES, tracking_uri
from housing.deployment.compiled import ServedPredict, compile_pipeline
from housing.deployment.schemas import RangeCheck
from housing.models.serialization import load_registered_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A registered version in memory, with what /model reports about it."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    ranges: dict[str, dict[str, float]]
    model: Any = field(repr=False)
    predict: ServedPredict = field(repr=False, default=None)
    loaded_at: str = ""

    @functools.cached_property
    def range_check(self) -> RangeCheck:
        """This version's out-of-range flags, with its bounds read once."""
        return RangeCheck(self.ranges)

    def describe(self) -> dict[str, Any]:
        runtime = {"name": self.predict.runtime, "max_abs_diff": self.predict.max_abs_diff,
                   **({"reason": self.predict.reason} if self.predict.reason else {})} \
            if self.predict is not None else None
        return {"name": self.name, "version": self.version, "aliases": list(self.aliases),
                "run_id": self.run_id, "metrics": self.metrics, "loaded_at": self.loaded_at,
                "runtime": runtime}


def check_rows(ranges: dict[str, dict[str, float]], n: int = 512) -> np.ndarray:
    """Seeded rows spread over the training ranges, to check the compiled predict."""
    rng = np.random.default_rng(0)
    low = np.array([ranges.get(f, {}).get("min", 0.5) for f in FEATURES])
    high = np.array([ranges.get(f, {}).get("max", 5.0) for f in FEATURES])
    if not ranges:  # an older version without ranges: plausible districts
        low = np.array([0.5, 1, 2, 0.8, 50, 1.5, 32.6, -124.3])
        high = np.array([15, 52, 10, 1.5, 5000, 5, 41.9, -114.4])
    return rng.uniform(low, high, size=(n, len(FEATURES)))


def _client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri())


def resolve_version(name: str, alias: str) -> str:
    """The version number the alias points at now."""
    return str(_client().get_model_version_by_alias(name, alias).version)


def load_version(name: str, alias: str) -> LoadedModel:
    """Download the aliased version and load it with the project's skops allow-list."""
    import mlflow

    client = _client()
    mv = client.get_model_version_by_alias(name, alias)
    model = load_registered_model(name, mv.version, tracking_uri())
    try:
        ranges = mlflow.artifacts.load_dict(
            client.get_run(mv.run_id).info.artifact_uri + "/feature_ranges.json")
    except Exception:  # an older version without ranges: predictions are simply not flagged
        logger.warning("version %s has no feature_ranges.json", mv.version)
        ranges = {}
    metrics = {k.removeprefix("test_"): float(v) for k, v in mv.tags.items()
               if k.startswith("test_")}
    loaded = LoadedModel(name=name, version=str(mv.version), run_id=mv.run_id or "",
                         aliases=tuple(sorted(mv.aliases)), metrics=metrics, ranges=ranges,
                         model=model, predict=compile_pipeline(model, check_rows(ranges)),
                         loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    logger.info("loaded %s version %s (%s)", name, loaded.version, alias)
    return loaded


class ModelHolder:
    """Holds the current model; ``refresh`` swaps in a new version when the alias moves.

    Requests read ``current`` once per request, so a swap never mixes two versions in
    one response.
    """

    def __init__(self, name: str, alias: str):
        self.name, self.alias = name, alias
        self.current: LoadedModel | None = None
        self.last_error: str | None = "not loaded yet"
        self.registry_error: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Load the aliased version if it differs from the current one; True if swapped."""
        with self._lock:
            try:
                version = resolve_version(self.name, self.alias)
                swap = self.current is None or self.current.version != version
                if swap:
                    self.current = load_version(self.name, self.alias)
                self.last_error = self.registry_error = None
                return swap
            except Exception as err:  # registry down or alias missing: keep serving what we have
                self.last_error = f"{type(err).__name__}: {err}"
                # The registry answered, but has no such model or alias (a server says so
                # with INVALID_PARAMETER_VALUE "... not found")
                missing = (getattr(err, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"
                           or "not found" in str(err))
                self.registry_error = None if missing else self.last_error
                logger.warning("cannot load %s@%s: %s", self.name, self.alias, self.last_error)
                return False

    def registry_status(self) -> dict[str, str | None]:
        """What /ready and /model say about the registry: reachable at the last look-up, or
        not (the service then keeps serving the model it has)."""
        if self.registry_error is None:
            return {"registry": "reachable", "registry_error": None}
        return {"registry": "unreachable", "registry_error": self.registry_error}

    def start_polling(self, seconds: int) -> threading.Thread:
        """Check the alias every ``seconds`` in a daemon thread."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(seconds):
                self.refresh()

        thread = threading.Thread(target=loop, name="model-poller", daemon=True)
        thread.start()
        return thread
