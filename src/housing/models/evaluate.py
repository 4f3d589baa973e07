"""The evaluate stage: test-set metrics beside two baselines, DVC plot data and figures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from housing.config import FEATURES, TARGET, EvaluatePaths
from housing.io import atomic_path, read_joblib, write_csv, write_json
from housing.models.metrics import regression_metrics, rmse
from housing.params import EvaluateParams

logger = logging.getLogger(__name__)


def baseline_predictions(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Test predictions of a mean predictor and of linear regression on the raw features."""
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    X_train, y_train = train[list(FEATURES)], train[TARGET]
    X_test = test[list(FEATURES)]
    return {
        "mean": DummyRegressor(strategy="mean").fit(X_train, y_train).predict(X_test),
        "linear_regression": LinearRegression().fit(X_train, y_train).predict(X_test),
    }


def error_by_decile(y_true, y_pred) -> pd.DataFrame:
    """RMSE and MAE within each decile of the true target."""
    frame = pd.DataFrame({"y": np.asarray(y_true, float), "p": np.asarray(y_pred, float)})
    frame["decile"] = pd.qcut(frame["y"].rank(method="first"), 10, labels=range(1, 11)).astype(int)
    groups = [frame[frame["decile"] == d] for d in range(1, 11)]
    return pd.DataFrame({
        "decile": range(1, 11),
        "rmse": np.round([rmse(g["y"], g["p"]) for g in groups], 6),
        "mae": np.round([np.mean(np.abs(g["p"] - g["y"])) for g in groups], 6),
    })


def interval_metrics(y_true, lower, upper, prediction) -> dict:
    """Test coverage and mean width of the prediction intervals, overall and per decile of
    the predicted value (where a district's difficulty shows), rounded to 6 decimals."""
    frame = pd.DataFrame({"covered": (y_true >= lower) & (y_true <= upper),
                          "width": np.asarray(upper, float) - np.asarray(lower, float)})
    frame["decile"] = pd.qcut(pd.Series(prediction).rank(method="first"), 10,
                              labels=range(1, 11)).astype(int).to_numpy()
    by = frame.groupby("decile")
    deciles = pd.DataFrame({"decile": range(1, 11),
                            "coverage": by["covered"].mean().round(6).to_numpy(),
                            "mean_width": by["width"].mean().round(6).to_numpy()})
    return {
        "coverage": round(float(frame["covered"].mean()), 6),
        "mean_width": round(float(frame["width"].mean()), 6),
        "width_ratio": round(float(deciles["mean_width"].max() / deciles["mean_width"].min()), 6),
        "by_decile": {str(d): {"coverage": c, "mean_width": w}
                      for d, c, w in deciles.itertuples(index=False)},
    }


def residual_histogram(y_true, y_pred, *, bins: int) -> pd.DataFrame:
    """Counts of residuals (predicted − actual) in equal-width bins."""
    residual = np.asarray(y_pred, float) - np.asarray(y_true, float)
    counts, edges = np.histogram(residual, bins=bins)
    return pd.DataFrame({"residual": ((edges[:-1] + edges[1:]) / 2).round(4), "count": counts})


def feature_importance(model, X: pd.DataFrame, y, *, n_repeats: int, seed: int) -> pd.DataFrame:
    """Permutation importance (RMSE increase) of the 8 raw features, largest first."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(model, X, y, scoring="neg_root_mean_squared_error",
                                    n_repeats=n_repeats, random_state=seed, n_jobs=1)
    frame = pd.DataFrame({"feature": X.columns, "importance": result.importances_mean.round(6),
                          "std": result.importances_std.round(6)})
    return frame.sort_values(["importance", "feature"], ascending=[False, True])


def save_figures(figures_dir: Path, *, y_true, y_pred, deciles: pd.DataFrame,
                 importance: pd.DataFrame) -> None:
    """PNG versions of the four plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig, name: str) -> None:
        fig.tight_layout()
        with atomic_path(figures_dir / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y_true, y_pred, s=3, alpha=0.3)
    ax.plot([0, 5], [0, 5], color="black", lw=1)
    ax.set(xlabel="actual (100k USD)", ylabel="predicted (100k USD)", title="Predicted vs actual")
    save(fig, "predicted_vs_actual.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(np.asarray(y_pred) - np.asarray(y_true), bins=60)
    ax.set(xlabel="residual (predicted − actual)", ylabel="districts", title="Residuals")
    save(fig, "residuals.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(deciles["decile"], deciles["rmse"])
    ax.set(xlabel="decile of actual value", ylabel="RMSE", title="Error by target decile")
    save(fig, "error_by_decile.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ordered = importance.iloc[::-1]
    ax.barh(ordered["feature"], ordered["importance"], xerr=ordered["std"])
    ax.set(xlabel="RMSE increase when permuted", title="Permutation importance")
    save(fig, "feature_importance.png")


def run(params: EvaluateParams, paths: EvaluatePaths) -> dict:
    """Score the tuned model and the baselines on the test set; write metrics, plots, figures."""
    model = read_joblib(paths.model)
    train, test = pd.read_parquet(paths.train), pd.read_parquet(paths.test)
    X_test, y_test = test[list(FEATURES)], test[TARGET].to_numpy(dtype=float)

    y_pred, lower, upper = model[-1].predict_interval(model[:-1].transform(X_test))
    interval = {"target": model[-1].coverage, **interval_metrics(y_test, lower, upper, y_pred)}
    metrics = {
        "model": regression_metrics(y_test, y_pred),
        "interval": interval,
        "baselines": {name: regression_metrics(y_test, pred)
                      for name, pred in baseline_predictions(train, test).items()},
        "test_rows": len(test),
    }
    deciles = error_by_decile(y_test, y_pred)
    importance = feature_importance(model, X_test, y_test, n_repeats=params.permutation_repeats,
                                    seed=params.seed)
    write_csv(pd.DataFrame({"actual": y_test.round(5), "predicted": y_pred.round(5)}),
              paths.plots_dir / "predictions.csv")
    write_csv(residual_histogram(y_test, y_pred, bins=params.residual_bins),
              paths.plots_dir / "residuals.csv")
    write_csv(deciles, paths.plots_dir / "error_by_decile.csv")
    write_csv(pd.DataFrame([{"decile": int(d), **v} for d, v in interval["by_decile"].items()]),
              paths.plots_dir / "interval_by_decile.csv")
    write_csv(importance, paths.plots_dir / "feature_importance.csv")
    save_figures(paths.figures_dir, y_true=y_test, y_pred=y_pred, deciles=deciles,
                 importance=importance)
    write_json(metrics, paths.metrics)
    logger.info("test RMSE %.4f (mean baseline %.4f, linear %.4f); %.0f%% intervals cover "
                "%.2f%%, mean width %.4f", metrics["model"]["rmse"],
                metrics["baselines"]["mean"]["rmse"],
                metrics["baselines"]["linear_regression"]["rmse"], 100 * interval["target"],
                100 * interval["coverage"], interval["mean_width"])
    return metrics
