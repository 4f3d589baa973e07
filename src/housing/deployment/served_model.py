"""Load the registry's production version safely, and swap it when the alias moves.

A version is adopted only after every step passed: it is downloaded; its bytes are tried
in a process of their own (predict.probe), unless this machine already knows their
verdict (known_good); then this worker loads them with the skops allow-list and prepares
them (predict.prepare: the arrays checked, the compiled predict equal to the Pipeline).
A version that fails a step is refused: a worker keeps the version it serves, and a
worker that has none yet (a new one after SIGHUP, a crash or max_requests) serves the
last version adopted on this machine. /model, the log and `housing history` name the
refused version and the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from housing.config import tracking_uri
from housing.connections import redact_url
from housing.deployment.known_good import KnownGood, digest
from housing.deployment.metrics import Metrics
from housing.deployment.predict.compiled import ServedPredict
from housing.deployment.predict.prepare import prepare
from housing.deployment.predict.probe import Refused, probe
from housing.deployment.predict.ranges import RangeCheck
from housing.models.intervals import IntervalRegressor
from housing.registry import events, store
from housing.registry.serialization import load_skops_model

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
    sha256: str = ""           # of the artifact's bytes, as probed
    loaded_at: str = ""

    @functools.cached_property
    def range_check(self) -> RangeCheck:
        """This version's out-of-range flags, with its bounds read once."""
        return RangeCheck(self.ranges)

    @property
    def interval_coverage(self) -> float | None:
        """The coverage this version's intervals are calibrated to, or None without them."""
        final = self.model[-1] if hasattr(self.model, "steps") else None
        return final.coverage if isinstance(final, IntervalRegressor) else None

    @property
    def runtime_name(self) -> str:
        """The trees' runtimes ("lleaves+lleaves"), or "pipeline"."""
        if self.predict is None:
            return "pipeline"
        return "+".join(self.predict.trees) or self.predict.runtime

    def describe(self) -> dict[str, Any]:
        runtime = {"name": self.predict.runtime, "max_abs_diff": self.predict.max_abs_diff,
                   "trees": list(self.predict.trees),
                   **({"reason": self.predict.reason} if self.predict.reason else {})} \
            if self.predict is not None else None
        return {"name": self.name, "version": self.version, "aliases": list(self.aliases),
                "run_id": self.run_id, "metrics": self.metrics, "loaded_at": self.loaded_at,
                "sha256": self.sha256, "runtime": runtime,
                "interval_coverage": self.interval_coverage}


def release_memory() -> None:
    """Collect what loading left behind and hand freed heap pages back to the system
    (glibc keeps them otherwise): loading a model allocates far more than it keeps."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL(libc).malloc_trim(0)


def _tried(path: Path, ranges: dict, tree_cache: Path | None, known: KnownGood) -> str:
    """The artifact's digest, once it passed the probe (now or on an earlier try on this
    machine); Refused if it failed there."""
    sha256 = digest(path)
    verdict = known.verdict(sha256)
    if verdict is not None and not verdict["passed"]:
        raise Refused(verdict["reason"])
    if verdict is None:
        try:
            probe(path, ranges, tree_cache)
        except Refused as err:
            known.record_verdict(sha256, False, str(err))
            raise
        known.record_verdict(sha256, True)
    return sha256


def load_version(name: str, version: str, tree_cache: Path | None = None,
                 known: KnownGood | None = None) -> LoadedModel:
    """Download ``version``, try it in a probe process, then load and prepare it here;
    Refused names the step that failed. Its tree members run on lleaves where
    ``tree_cache`` holds their libraries."""
    known = known or KnownGood(None, name)
    mv = store.get_version(name, version)
    ranges = store.feature_ranges(mv.run_id) if mv.run_id else {}
    if not ranges:  # a version logged without ranges: predictions are simply not flagged
        logger.warning("version %s has no feature ranges", mv.version)
    with tempfile.TemporaryDirectory(prefix="housing-model-") as tmp:
        path = store.download_model(name, version, Path(tmp))
        sha256 = _tried(path, ranges, tree_cache, known)
        try:
            model = load_skops_model(path)
            predict = prepare(model, ranges, tree_cache, build=True)
        except Exception as err:
            raise Refused(f"{type(err).__name__}: {err}") from err
    loaded = LoadedModel(name=name, version=str(mv.version), run_id=mv.run_id or "",
                         aliases=tuple(sorted(mv.aliases)),
                         metrics=store.version_metrics(mv), ranges=ranges, model=model,
                         predict=predict, sha256=sha256,
                         loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    logger.info("loaded %s version %s", name, loaded.version)
    return loaded


class ModelHolder:
    """Holds the current model; ``refresh`` swaps in a new version when the alias moves,
    if it passes (see the module docstring).

    Requests read ``current`` once per request, so a swap never mixes two versions in
    one response.

    With a ``tree_cache``, a version is adopted on the runtime it will keep: its lleaves
    libraries are compiled before it serves (by the probe, or where the cache lost them,
    by trees.ensure_library's own process), while the worker goes on serving the version
    it has. Under gunicorn the master loads the production version once before it forks
    (the app is preloaded), so the workers start on lleaves and share its pages; each
    worker then checks the alias itself (``start_serving``).
    """

    def __init__(self, name: str, alias: str, tree_cache: Path | None = None,
                 state_dir: Path | None = None, optional: bool = False):
        self.name, self.alias = name, alias
        self.optional = optional  # an alias that may name nothing (the challenger)
        self.tree_cache = tree_cache
        self.known = KnownGood(state_dir, f"{tracking_uri()}\n{name}\n{alias}")
        self.current: LoadedModel | None = None
        self.last_error: str | None = "not loaded yet"
        self.registry_error: str | None = None
        self.refused: dict[str, str] = {}  # version -> why, for this worker's life
        self.metrics: Metrics | None = None  # the app's, which counts loads and refusals
        self.serving = False  # this process answers requests (start_serving)
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Adopt the aliased version if it differs from the current one and passes; True
        if swapped. A worker with nothing yet falls back to the last version adopted."""
        with self._lock:
            try:
                version = store.aliased_version(self.name, self.alias)
            except Exception as err:  # noqa: BLE001 - registry down or alias missing: keep serving
                self._unreachable(err)
                return False
            self.registry_error = None
            if self.current is not None and self.current.version == version:
                self.last_error = None
                return False
            if version in self.refused:
                if self.current is None:
                    self._fall_back(version)
                return False
            try:
                self._adopt(load_version(self.name, version, self.tree_cache, self.known))
                return True
            except Exception as err:  # noqa: BLE001 - a version that fails is not served
                self._refuse(version, err)
            if self.current is None:
                self._fall_back(version)
            return False

    def _unreachable(self, err: Exception) -> None:
        # The registry answered, but has no such model or alias (a server says so with
        # INVALID_PARAMETER_VALUE "... not found")
        missing = (getattr(err, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"
                   or "not found" in str(err))
        if missing and self.optional:  # the alias names nothing (now): hold nothing
            self.current, self.last_error, self.registry_error = None, None, None
            return
        self.last_error = redact_url(f"{type(err).__name__}: {err}")[:500]
        self.registry_error = None if missing else self.last_error
        logger.warning("cannot load %s@%s: %s", self.name, self.alias, self.last_error)

    def _adopt(self, loaded: LoadedModel) -> None:
        self.current = loaded
        self.last_error = None
        if self.metrics is not None:  # the version served: only a process that serves
            self.metrics.model_event("adopted", loaded if self.serving else None)
        release_memory()
        self.known.record_last(loaded.version, loaded.sha256)

    def _refuse(self, version: str, err: Exception) -> None:
        """Keep serving; say which version was refused and why. Only a verdict on the
        version itself (Refused) is recorded and not retried; a failed download is."""
        reason = redact_url(str(err) if isinstance(err, Refused)
                            else f"{type(err).__name__}: {err}")[:500]
        self.last_error = f"version {version} refused: {reason}"
        serving = self.current.version if self.current is not None else None
        logger.error("%s@%s: version %s refused, serving %s: %s", self.name, self.alias,
                     version, serving or "nothing", reason)
        if self.metrics is not None:  # a verdict on the version, or a step that failed
            self.metrics.model_event("refused" if isinstance(err, Refused) else "failed")
        if not isinstance(err, Refused):
            return
        self.refused[version] = reason
        try:
            events.record_refusal(self.name, version, alias=self.alias, reason=reason)
        except Exception as record_err:  # noqa: BLE001 - the registry may be read-only
            logger.warning("refusal of version %s not recorded in the registry: %s",
                           version, redact_url(str(record_err))[:200])

    def _fall_back(self, refused: str) -> None:
        """A worker with nothing to serve takes the last version adopted on this machine."""
        last = self.known.last()
        if last is None or last["version"] == refused:
            return
        try:
            loaded = load_version(self.name, last["version"], self.tree_cache, self.known)
        except Exception as err:  # noqa: BLE001 - nothing to serve, as before
            logger.error("the last good version %s cannot be loaded either: %s",
                         last["version"], redact_url(str(err))[:300])
            return
        self._adopt(loaded)
        self.last_error = f"version {refused} refused: {self.refused.get(refused, '')}"
        logger.warning("serving version %s, the last adopted here, instead of version %s",
                       loaded.version, refused)

    def refusals(self) -> dict[str, Any]:
        """What /model says about versions this worker refused."""
        return {"refused": [{"version": v, "reason": r} for v, r in self.refused.items()],
                "alias": self.alias, "last_error": self.last_error}

    def registry_status(self) -> dict[str, str | None]:
        """What /ready and /model say about the registry: reachable at the last look-up, or
        not (the service then keeps serving the model it has)."""
        if self.registry_error is None:
            return {"registry": "reachable", "registry_error": None}
        return {"registry": "unreachable", "registry_error": self.registry_error}

    def start_serving(self, poll_seconds: int) -> threading.Thread | None:
        """This process starts to answer requests (a gunicorn worker, after the fork): check
        the alias now, since the master may have loaded the model a while ago (a worker
        started by SIGHUP, a crash or max_requests adopts the version the alias names),
        report the version served, and check the alias every ``poll_seconds`` in a daemon
        thread (0: never)."""
        self.serving = True
        self.refresh()
        if self.metrics is not None and self.current is not None:
            current = self.current
            self.metrics.serving(current.name, current.version, current.runtime_name)
        if not poll_seconds:
            return None
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(poll_seconds):
                self.refresh()

        thread = threading.Thread(target=loop, name="model-poller", daemon=True)
        thread.start()
        return thread
