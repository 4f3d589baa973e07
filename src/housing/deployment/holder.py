"""Load the registry's production version safely, and swap it when the alias moves."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from housing.config import FEATURES
from housing.deployment.predict.compiled import (
    Native,
    ServedPredict,
    compile_pipeline,
    tree_members,
)
from housing.deployment.predict.model_check import check_model
from housing.deployment.predict.ranges import RangeCheck
from housing.registry import store
from housing.stores import redact_url

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
                   "trees": list(self.predict.trees),
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


def resolve_version(name: str, alias: str) -> str:
    """The version number the alias points at now (the registry's own error when none)."""
    return str(store.client().get_model_version_by_alias(name, alias).version)


def cached_native(cache_dir: Path | None) -> Native | None:
    """lleaves trees for the members whose library is already in ``cache_dir`` and passes
    its checks (trees.read_verified); this never compiles: see ModelHolder. A
    library that fails a check is refused with a warning, and the member is served on
    LightGBM's predictor."""
    if cache_dir is None:
        return None

    def native(member):
        from housing.deployment.predict.text import NativeUnavailable, member_text
        from housing.deployment.predict.trees import NativeTrees, read_verified

        try:
            text = member_text(member)
        except (NativeUnavailable, ImportError) as err:
            logger.info("lleaves unavailable for %s: %s", type(member).__name__, err)
            return None
        if not Path(cache_dir).exists():
            return None
        try:
            library = read_verified(cache_dir, text)
            return NativeTrees(text, library) if library is not None else None
        except (NativeUnavailable, ImportError, OSError) as err:
            logger.warning("compiled trees refused for %s: %s", type(member).__name__, err)
            return None
    return native


def load_version(name: str, alias: str, tree_cache: Path | None = None) -> LoadedModel:
    """Download the aliased version and load it with the project's skops allow-list; its
    tree members run on lleaves where ``tree_cache`` holds their libraries."""
    mv = store.client().get_model_version_by_alias(name, alias)
    model = store.load_model(name, mv.version)
    check_model(model)  # before anything predicts with it: its arrays are in range
    ranges = store.feature_ranges(mv.run_id) if mv.run_id else {}
    if not ranges:  # a version logged without ranges: predictions are simply not flagged
        logger.warning("version %s has no feature ranges", mv.version)
    metrics = store.version_metrics(mv)
    loaded = LoadedModel(name=name, version=str(mv.version), run_id=mv.run_id or "",
                         aliases=tuple(sorted(mv.aliases)), metrics=metrics, ranges=ranges,
                         model=model, predict=compile_pipeline(model, check_rows(ranges),
                                                               cached_native(tree_cache)),
                         loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    logger.info("loaded %s version %s (%s)", name, loaded.version, alias)
    return loaded


class ModelHolder:
    """Holds the current model; ``refresh`` swaps in a new version when the alias moves.

    Requests read ``current`` once per request, so a swap never mixes two versions in
    one response.

    With a ``tree_cache``, a version whose lleaves libraries are not built yet is served
    at once on LightGBM's predictor while a background thread has them compiled (in a
    separate process, one per machine and model: trees.ensure_library), checks
    the result against the Pipeline and swaps it in, for the same version.
    """

    def __init__(self, name: str, alias: str, tree_cache: Path | None = None):
        self.name, self.alias = name, alias
        self.tree_cache = tree_cache
        self.current: LoadedModel | None = None
        self.last_error: str | None = "not loaded yet"
        self.registry_error: str | None = None
        self.native_error: str | None = None
        self._lock = threading.Lock()
        self._native_thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Load the aliased version if it differs from the current one; True if swapped."""
        with self._lock:
            try:
                version = resolve_version(self.name, self.alias)
                swap = self.current is None or self.current.version != version
                if swap:
                    self.current = load_version(self.name, self.alias, self.tree_cache)
                    release_memory()
                    self._compile_native(self.current)
                self.last_error = self.registry_error = None
                return swap
            except Exception as err:  # noqa: BLE001 - registry down or alias missing: keep serving
                self.last_error = redact_url(f"{type(err).__name__}: {err}")[:500]
                # The registry answered, but has no such model or alias (a server says so
                # with INVALID_PARAMETER_VALUE "... not found")
                missing = (getattr(err, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"
                           or "not found" in str(err))
                self.registry_error = None if missing else self.last_error
                logger.warning("cannot load %s@%s: %s", self.name, self.alias, self.last_error)
                return False

    def _compile_native(self, loaded: LoadedModel) -> None:
        """Build the lleaves libraries of ``loaded`` in the background, then swap them in."""
        served = loaded.predict
        if self.tree_cache is None or served.runtime != "compiled" or served.native:
            return

        def build() -> None:
            from housing.deployment.predict.text import member_text
            from housing.deployment.predict.trees import ensure_library
            try:
                for member in tree_members(loaded.model[-1]):
                    ensure_library(member_text(member), self.tree_cache)
                predict = compile_pipeline(loaded.model, check_rows(loaded.ranges),
                                           cached_native(self.tree_cache))
            except Exception as err:  # noqa: BLE001 - compiling is an optimisation: keep serving
                self.native_error = redact_url(f"{type(err).__name__}: {err}")[:500]
                logger.warning("version %s stays on %s: %s", loaded.version,
                               "+".join(served.trees), self.native_error)
                return
            if not predict.native:
                self.native_error = predict.reason or f"trees on {predict.trees}"
                logger.warning("version %s: lleaves not served: %s", loaded.version,
                               self.native_error)
                return
            with self._lock:
                if self.current is loaded:
                    self.current = dataclasses.replace(loaded, predict=predict)
                    release_memory()
                    logger.info("version %s now on lleaves (max diff %.3g)",
                                loaded.version, predict.max_abs_diff)

        self._native_thread = threading.Thread(target=build, name="tree-compiler",
                                               daemon=True)
        self._native_thread.start()

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
