"""Compare tree runtimes on the production model's trees: what the service should run.

Loads `models:/california-housing@production` as the service does, builds its feature
matrix for real test rows, and times one-row and 100-row predictions of the model's
trees (the feature steps excluded) on:

- the models' own predict: scikit-learn's HistGradientBoosting and LightGBM, blended;
- a peer: LightGBM's own C++ predictor for every member, on the texts lleaves compiles
  (the HistGradientBoosting member through LightGBM's text format, tree_text), blended
  as the service blends;
- lleaves for every member, as the service runs it (the same texts compiled); it
  reports the compile time, paid once per registered version and machine;
- ONNX Runtime, when skl2onnx and onnxmltools convert the members (reported if not).

Each runtime's largest difference from the Pipeline's own trees is printed beside its
time. Timings are medians over repeated calls in one process; compare the ratios.

    python benchmarks/tree_runtimes.py [--tracking-uri sqlite:///mlflow.db]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tables import median_us

REPO_ROOT = Path(__file__).resolve().parents[1]


def onnx_session(member, X: np.ndarray):
    """One tree member as an ONNX Runtime session on one thread, as a predict."""
    import onnxruntime as ort
    from skl2onnx import to_onnx

    if type(member).__name__ == "LightGBMRegressor":
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import DoubleTensorType

        model = convert_lightgbm(member._booster(), initial_types=[
            ("X", DoubleTensorType([None, X.shape[1]]))], target_opset=17)
    else:
        model = to_onnx(member, X[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options)
    name = session.get_inputs()[0].name
    return lambda rows: session.run(None, {name: rows})[0].reshape(-1)


def onnx_predict(regressor, X: np.ndarray):
    """The served regressor's point prediction with every tree member on ONNX Runtime
    (the same walk as the service's compiler), or the reason there is none."""
    from housing.models.ensemble import fold

    def blended(node, predicts):
        weights = np.asarray(node.weights or [1.0] * len(predicts), dtype=float)
        weights = weights / weights.sum()
        return lambda rows: np.column_stack([p(rows) for p in predicts]) @ weights

    try:
        return fold(regressor, leaf=lambda member: onnx_session(member, X), blended=blended,
                    transformed=lambda node, inner: (
                        lambda rows: node.inverse_func(inner(rows)))), ""
    except Exception as err:  # noqa: BLE001 - report why this runtime is out
        return None, f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"


def load_production(tracking_uri: str):
    """The production version loaded as the service loads it, its regressor on one thread,
    the test rows' feature matrix and the regressor's own predictions of it."""
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    import pandas as pd

    from housing.config import FEATURES, EvaluatePaths
    from housing.deployment.predict.features import ArrayFeatures
    from housing.deployment.served_model import load_version
    from housing.models.ensemble import tree_members
    from housing.models.gate import PRODUCTION
    from housing.registry.store import aliased_version

    loaded = load_version(
        "california-housing", aliased_version("california-housing", PRODUCTION))
    regressor = loaded.model[-1]
    for member in tree_members(regressor):
        if hasattr(member, "n_jobs"):
            member.set_params(n_jobs=1)
    test = pd.read_parquet(REPO_ROOT / EvaluatePaths().test)[list(FEATURES)]
    features = ArrayFeatures(loaded.model[:-1], FEATURES)
    matrix = features.transform(test.to_numpy())
    expected = regressor.predict(pd.DataFrame(matrix, columns=list(features.names)))
    return loaded, regressor, list(features.names), matrix, expected


class LightGBMMember:
    """A tree member on LightGBM's own predictor, one thread, from its LightGBM text."""

    def __init__(self, member):
        import lightgbm

        from housing.deployment.predict.tree_text import member_text

        self.booster = lightgbm.Booster(model_str=member_text(member))
        self.num_tree = self.booster.num_trees()

    def __call__(self, X):
        return self.booster.predict(X, num_threads=1)


def runtimes_of(regressor, names: list[str], matrix) -> dict[str, tuple]:
    """name -> (predict on a feature matrix, or None; why not) for every runtime."""
    import pandas as pd

    from housing.deployment.predict.compiled import compile_regressor
    from housing.deployment.predict.prepare import build_libraries, cached_native
    from housing.models.ensemble import tree_members

    start = time.perf_counter()
    peer, n_trees, _ = compile_regressor(regressor, LightGBMMember)
    print(f"model: {type(regressor).__name__}, {n_trees} trees; {len(matrix)} test rows; "
          f"LightGBM boosters built in {time.perf_counter() - start:.2f} s")
    runtimes: dict[str, tuple] = {
        "own predict (scikit-learn + LightGBM)": (
            lambda X: regressor.predict(pd.DataFrame(X, columns=names)), ""),
        "peer: LightGBM's predictor, every member": (peer, ""),
    }
    cache = Path(tempfile.mkdtemp(prefix="housing-lleaves-"))
    start = time.perf_counter()
    build_libraries(regressor, cache)
    compile_s = time.perf_counter() - start
    native, _, runtimes_used = compile_regressor(regressor, cached_native(cache))
    assert runtimes_used == ("lleaves",) * len(tree_members(regressor)), runtimes_used
    runtimes[f"lleaves, every member (as served; compiled in {compile_s:.0f} s)"] = (native, "")
    runtimes["ONNX Runtime"] = onnx_predict(regressor, matrix)
    return runtimes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO_ROOT / 'mlflow.db'}")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    loaded, regressor, names, matrix, expected = load_production(args.tracking_uri)
    print(f"production version {loaded.version}")
    runtimes = runtimes_of(regressor, names, matrix)
    print("\n| runtime | 1 row, us | 100 rows, us | max abs diff |")
    print("|---|---:|---:|---:|")
    own = None
    for name, (predict, why) in runtimes.items():
        if predict is None:
            print(f"| {name} | - | - | not available: {why} |")
            continue
        one = median_us(predict, matrix[:1], 2000)
        hundred = median_us(predict, matrix[:100], 300)
        diff = float(np.max(np.abs(predict(matrix) - expected)))
        own = own or (one, hundred)
        print(f"| {name} | {one:.1f} ({own[0] / one:.1f}x) | {hundred:.0f} "
              f"({own[1] / hundred:.1f}x) | {diff:.2g} |")


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("tree_runtimes", "Tree runtimes of the production ensemble"):
        main()
