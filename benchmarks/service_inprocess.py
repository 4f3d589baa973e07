"""The in-process half of benchmarks/service.py: the median time of each step the service
runs for one row, loaded exactly as the service loads it, and the cost of the prediction
interval (the served predict with and without it, alternated call by call)."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from tables import median_us


def in_process_us(tracking_uri: str, tree_cache: Path, district: dict) -> dict[str, float]:
    """Median in-process time for one row, in microseconds, of each step the service runs:
    the Pipeline's own predict (DataFrame in), the feature steps on arrays, the lleaves trees,
    and the whole served predict (loaded exactly as the service loads it). Builds the
    version's lleaves libraries in ``tree_cache`` first, so the servers start on them."""
    import numpy as np
    import pandas as pd

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    from housing.config import FEATURES
    from housing.deployment.predict.compiled import compile_regressor
    from housing.deployment.predict.features import ArrayFeatures
    from housing.deployment.predict.prepare import build_libraries, cached_native
    from housing.deployment.served_model import load_version
    from housing.models.gate import PRODUCTION
    from housing.registry.store import aliased_version

    loaded = load_version(
        "california-housing", aliased_version("california-housing", PRODUCTION))
    build_libraries(loaded.model[-1], tree_cache)
    loaded = load_version(
        "california-housing", aliased_version("california-housing", PRODUCTION), tree_cache)
    frame = pd.DataFrame([district])
    row = np.array([[district[f] for f in FEATURES]])
    features = ArrayFeatures(loaded.model[:-1], FEATURES)
    matrix = features.transform(row)
    trees, _, _ = compile_regressor(loaded.model[-1], cached_native(tree_cache))

    in_turn = in_turn_us(features, trees, row)
    bounds, no_bounds = interval_cost_us(loaded, tree_cache, row)
    return {"interval": bounds, "no_interval": no_bounds,
            "pipeline": median_us(loaded.model.predict, frame),
            "features_in_turn": in_turn[0], "trees_in_turn": in_turn[1],
            "features": median_us(features.transform, row),
            "trees": median_us(trees, matrix),
            "served": median_us(loaded.predict, row),
            "runtime": "+".join(loaded.predict.trees) or loaded.predict.runtime}


def interval_cost_us(loaded, tree_cache: Path, row, rounds: int = 4000) -> tuple[float, float]:
    """Median time of the served predict with its interval, and of the same version's
    trees and features without one (its regressor alone, compiled the same way), the two
    alternated call by call so that both see the same machine."""
    from sklearn.pipeline import Pipeline

    from housing.deployment.predict.compiled import compile_pipeline
    from housing.deployment.predict.prepare import cached_native, check_rows

    bare = Pipeline([*loaded.model.steps[:-1], ("regressor", loaded.model[-1].regressor_)])
    without = compile_pipeline(bare, check_rows(loaded.ranges), cached_native(tree_cache))
    assert without.predict_interval(row)[1] is None and without.native
    timed: tuple[list[float], list[float]] = ([], [])
    for i in range(rounds + 50):
        for fn, times in ((loaded.predict.predict_interval, timed[0]),
                          (without.predict_interval, timed[1])):
            start = time.perf_counter()
            fn(row)
            if i >= 50:
                times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(timed[0]), statistics.median(timed[1])


def in_turn_us(features, trees, row, rounds: int = 2000) -> tuple[float, float]:
    """Median time of the features, then the trees, each timed where the served predict
    runs them: one after the other, so each finds the caches as the other left them."""
    feature_us, tree_us = [], []
    for i in range(rounds + 50):
        start = time.perf_counter()
        matrix = features.transform(row)
        middle = time.perf_counter()
        trees(matrix)
        end = time.perf_counter()
        if i >= 50:
            feature_us.append((middle - start) * 1e6)
            tree_us.append((end - middle) * 1e6)
    return statistics.median(feature_us), statistics.median(tree_us)


def print_in_process(floor: dict, args, tree_cache: Path) -> None:
    print(f"load generator: wrk; {args.duration}s per cell; {args.workers} workers per "
          "server; validation and the prediction log on")
    print(f"in-process, 1 row (median us): Pipeline.predict {floor['pipeline']:.0f}; served "
          f"predict {floor['served']:.0f} ({floor['runtime']}); its parts, each measured "
          f"alone: features {floor['features']:.0f}, trees {floor['trees']:.0f} (each "
          "alone, its code hot in the caches); in turn, as the served predict runs them: features "
          f"{floor['features_in_turn']:.0f}, trees {floor['trees_in_turn']:.0f} (the "
          "compiled trees' machine code and the features' code evict each other)")
    print(f"lleaves libraries in {tree_cache}")
    ratio = floor["interval"] / floor["no_interval"]
    print(f"prediction interval, in-process, 1 row (median us, alternated call by call): "
          f"served predict with its interval {floor['interval']:.0f}, the same trees and "
          f"features without it {floor['no_interval']:.0f}: ratio {ratio:.3f}; goal, "
          f"within 10%: {'met' if ratio <= 1.10 else 'NOT met'}")
