"""What a version must pass before it serves, and the predict it serves with: its arrays
checked (model_check), then its compiled predict built and compared with the Pipeline
on seeded rows spread over the training ranges (compiled.compile_pipeline).

The worker runs this on a version only after a separate process ran it first on the same
bytes (predict.probe), so a version that would crash native code crashes that process,
never the worker. With ``build``, the lleaves libraries of the tree members are compiled
first where the cache lacks them (each in a process of its own: trees.ensure_library),
so a version is prepared on the runtime it will serve on, and no worker swaps runtimes
while it serves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from housing.config import FEATURES
from housing.deployment.predict.compiled import Native, ServedPredict, compile_pipeline
from housing.deployment.predict.model_check import check_model

logger = logging.getLogger(__name__)


def check_rows(ranges: dict[str, dict[str, float]], n: int = 512) -> np.ndarray:
    """Seeded rows spread over the training ranges, to check the compiled predict."""
    rng = np.random.default_rng(0)
    low = np.array([ranges.get(f, {}).get("min", 0.5) for f in FEATURES])
    high = np.array([ranges.get(f, {}).get("max", 5.0) for f in FEATURES])
    if not ranges:  # an older version without ranges: plausible districts
        low = np.array([0.5, 1, 2, 0.8, 50, 1.5, 32.6, -124.3])
        high = np.array([15, 52, 10, 1.5, 5000, 5, 41.9, -114.4])
    return rng.uniform(low, high, size=(n, len(FEATURES)))


def cached_native(cache_dir: Path | None) -> Native | None:
    """lleaves trees for the members whose library is already in ``cache_dir`` and passes
    its checks (trees.read_verified); this never compiles (build_libraries does). A
    library that fails a check is refused with a warning, and the version serves its
    Pipeline."""
    if cache_dir is None:
        return None

    def native(member):
        from housing.deployment.predict.tree_text import NativeUnavailable, member_text
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


def build_libraries(regressor: Any, cache_dir: Path) -> None:
    """Compile the lleaves library of each tree member of ``regressor`` (a Pipeline's last
    step) the cache lacks. A member that cannot be compiled is logged, and the version
    serves its Pipeline."""
    from housing.deployment.predict.tree_text import NativeUnavailable, member_text
    from housing.deployment.predict.trees import ensure_library
    from housing.models.ensemble import tree_members

    for member in tree_members(regressor):
        try:
            ensure_library(member_text(member), cache_dir)
        except (NativeUnavailable, ImportError, OSError) as err:
            logger.warning("lleaves not built for %s: %s", type(member).__name__, err)


def prepare(model: Any, ranges: dict[str, dict[str, float]],
            tree_cache: Path | None, *, build: bool = False) -> ServedPredict:
    """Check ``model`` (model_check.UnsafeModel names a problem), compile its trees where
    ``build`` asks for it, and build the predict it serves with, checked against its
    own Pipeline."""
    check_model(model)  # before anything predicts with it: its arrays are in range
    if build and tree_cache is not None:
        build_libraries(model[-1], tree_cache)
    predict = compile_pipeline(model, check_rows(ranges), cached_native(tree_cache))
    values, lower, upper = predict.predict_interval(check_rows(ranges, n=64))
    if values.shape != (64,) or not np.all(np.isfinite(values)):
        raise ValueError("the version predicts something else than one finite number "
                         "per row")
    if lower is not None and not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))
                                  and np.all(lower <= values) and np.all(values <= upper)):
        raise ValueError("the version's intervals are not finite bounds around its "
                         "predictions")
    return predict
