"""The one entry point: ``housing <stage> ...``. Parses arguments, sets up logging, runs a stage."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from housing.config import LOGS_DIR, external_path, go_offline

logger = logging.getLogger(__name__)


def _prepare(args: argparse.Namespace) -> None:
    from housing.data import prepare

    prepare.run(raw_dir=args.raw_dir, out_dir=args.out_dir, stream_fraction=args.stream_fraction,
                seed=args.seed, train_sample_rows=args.train_sample_rows,
                accepted_path=args.accepted, production_dir=external_path(args.production_dir),
                predictions_dir=external_path(args.predictions_dir))


def _monitor(args: argparse.Namespace) -> None:
    from housing.monitoring import monitor

    monitor.run(production_dir=external_path(args.production_dir),
                predictions_dir=external_path(args.predictions_dir), accepted_path=args.accepted,
                metrics_path=args.metrics, plots_path=args.plots, figures_dir=args.figures_dir,
                chunk_size=args.chunk_size, ks_threshold=args.ks_threshold,
                max_rmse_increase=args.max_rmse_increase,
                min_drifted_features=args.min_drifted_features,
                use_multivariate=args.use_multivariate == "true")


def _simulate(args: argparse.Namespace) -> None:
    import os

    from housing.monitoring import simulate

    simulate.run(stream_path=args.stream, production_dir=external_path(args.production_dir),
                 scenario=args.scenario, rows=args.rows, seed=args.seed, batch=args.batch,
                 features=args.features, labels=args.labels, url=args.url,
                 api_key=os.environ.get("HOUSING_API_KEY"))


def _featurize(args: argparse.Namespace) -> None:
    from housing.features import featurize

    featurize.run(train_path=args.train, matrix_path=args.matrix,
                  featurizer_path=args.featurizer, log_columns=tuple(args.log_columns),
                  rotation_angles=tuple(args.rotation_angles),
                  city_distances=args.city_distances, neighbor_ks=tuple(args.neighbor_ks),
                  neighbor_weighting=args.neighbor_weighting,
                  neighbor_coordinates=args.neighbor_coordinates, seed=args.seed)


def _tune(args: argparse.Namespace) -> None:
    from housing.models import tune

    tune.run(matrix_path=args.matrix, featurizer_path=args.featurizer, model_path=args.model_out,
             best_params_path=args.best_params, metrics_path=args.metrics, model=args.model,
             n_trials=args.n_trials, cv_folds=args.cv_folds, seed=args.seed,
             timeout=args.timeout or None, storage=args.storage, study_name=args.study_name,
             trials_only=args.trials_only, worker=args.worker, log_target=args.log_target == "true",
             ensemble_members=tuple(m for m in args.ensemble_members.split(",") if m))


def _evaluate(args: argparse.Namespace) -> None:
    from housing.models import evaluate

    evaluate.run(model_path=args.model, train_path=args.train, test_path=args.test,
                 metrics_path=args.metrics, plots_dir=args.plots_dir,
                 figures_dir=args.figures_dir, permutation_repeats=args.permutation_repeats,
                 seed=args.seed, residual_bins=args.residual_bins)


def _register(args: argparse.Namespace) -> None:
    from housing.models import registry

    registry.run(model_path=args.model, train_path=args.train, test_path=args.test,
                 metrics_path=args.metrics, params_path=args.params,
                 registry_path=args.registry_out, max_rmse=args.max_rmse, min_r2=args.min_r2,
                 min_improvement=args.min_improvement)


def _report(args: argparse.Namespace) -> None:
    from housing.reporting import report

    report.run(report_path=args.out, metrics_path=args.metrics, tune_path=args.tune,
               best_params_path=args.best_params, registry_path=args.registry,
               monitoring_path=args.monitoring, params_path=args.params,
               data_dir=args.data_dir, raw_path=args.raw, model_path=args.model,
               ablation_path=args.ablation)


def _rollback(args: argparse.Namespace) -> None:
    from housing.models import registry

    registry.rollback(version=args.version, reason=args.reason)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="housing", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")

    def command(name: str, func: Callable[[argparse.Namespace], None], help_: str):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = command("prepare", _prepare, "load, validate, snapshot and split the data")
    p.add_argument("--raw-dir", type=Path, default=Path("data/raw"))
    p.add_argument("--out-dir", type=Path, default=Path("data/processed"))
    p.add_argument("--stream-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train-sample-rows", type=int, default=0, help="0 keeps every row")
    p.add_argument("--accepted", type=Path, default=None,
                   help="the monitor's list of accepted production batches")
    p.add_argument("--production-dir", type=Path, default=Path("data/production"))
    p.add_argument("--predictions-dir", type=Path, default=Path("data/predictions"))

    p = command("featurize", _featurize, "fit the feature pipeline on the training set")
    p.add_argument("--train", type=Path, default=Path("data/processed/train.parquet"))
    p.add_argument("--matrix", type=Path, default=Path("data/processed/train_features.parquet"))
    p.add_argument("--featurizer", type=Path, default=Path("models/featurizer.joblib"))
    # dvc.yaml passes the featurize params group by dict unpacking (--log_columns a b ...).
    p.add_argument("--log-columns", "--log_columns", dest="log_columns", nargs="+",
                   default=["Population", "AveOccup", "AveRooms"])
    p.add_argument("--rotation-angles", "--rotation_angles", dest="rotation_angles",
                   nargs="+", type=float, default=[15.0, 30.0, 45.0])
    p.add_argument("--city-distances", "--city_distances", dest="city_distances",
                   action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--neighbor-ks", "--neighbor_ks", dest="neighbor_ks", nargs="*", type=int,
                   default=[], help="neighbour counts for neighbour-target features; none: off")
    p.add_argument("--neighbor-weighting", "--neighbor_weighting", dest="neighbor_weighting",
                   choices=("uniform", "distance"), default="uniform")
    p.add_argument("--neighbor-coordinates", "--neighbor_coordinates",
                   dest="neighbor_coordinates", choices=("sphere", "degrees"), default="sphere",
                   help="neighbours by great-circle distance or by flat latitude/longitude")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-fitting folds")

    p = command("tune", _tune, "Optuna search with K-fold CV, then refit the best model")
    p.add_argument("--matrix", type=Path, default=Path("data/processed/train_features.parquet"))
    p.add_argument("--featurizer", type=Path, default=Path("models/featurizer.joblib"))
    p.add_argument("--model-out", type=Path, default=Path("models/model.joblib"))
    p.add_argument("--best-params", type=Path, default=Path("models/best_params.json"))
    p.add_argument("--metrics", type=Path, default=Path("reports/tune.json"))
    p.add_argument("--model", default="hist_gradient_boosting")
    p.add_argument("--n-trials", type=int, default=30, help="0: the family's defaults")
    p.add_argument("--cv-folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=0, help="seconds; 0 means none")
    p.add_argument("--storage", default="", help="Optuna storage URL; empty: embedded SQLite")
    p.add_argument("--study-name", default="", help="empty: derived from model, data and params")
    p.add_argument("--trials-only", action="store_true",
                   help="join the study as an extra worker; write no outputs")
    p.add_argument("--worker", type=int, default=0, help="extra worker index (offsets the seed)")
    p.add_argument("--log-target", choices=("true", "false"), default="false",
                   help="learn log(MedHouseVal)")
    p.add_argument("--ensemble-members", default="hist_gradient_boosting,lightgbm",
                   help="comma-separated families blended by --model ensemble")

    p = command("evaluate", _evaluate, "test-set metrics, baselines, plots and figures")
    p.add_argument("--model", type=Path, default=Path("models/model.joblib"))
    p.add_argument("--train", type=Path, default=Path("data/processed/train.parquet"))
    p.add_argument("--test", type=Path, default=Path("data/processed/test.parquet"))
    p.add_argument("--metrics", type=Path, default=Path("reports/metrics.json"))
    p.add_argument("--plots-dir", type=Path, default=Path("reports/plots"))
    p.add_argument("--figures-dir", type=Path, default=Path("reports/figures"))
    p.add_argument("--permutation-repeats", type=int, default=5)
    p.add_argument("--residual-bins", type=int, default=40)
    p.add_argument("--seed", type=int, default=42)

    p = command("register", _register, "register the model in MLflow and set its aliases")
    p.add_argument("--model", type=Path, default=Path("models/model.joblib"))
    p.add_argument("--train", type=Path, default=Path("data/processed/train.parquet"))
    p.add_argument("--test", type=Path, default=Path("data/processed/test.parquet"))
    p.add_argument("--metrics", type=Path, default=Path("reports/metrics.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--registry-out", type=Path, default=Path("reports/registry.json"))
    p.add_argument("--max-rmse", type=float, required=True)
    p.add_argument("--min-r2", type=float, required=True)
    p.add_argument("--min-improvement", type=float, default=0.0)

    p = command("monitor", _monitor, "NannyML drift and performance estimation; the retrain gate")
    p.add_argument("--production-dir", type=Path, default=Path("data/production"))
    p.add_argument("--predictions-dir", type=Path, default=Path("data/predictions"))
    p.add_argument("--accepted", type=Path, default=Path("data/accepted_batches.json"))
    p.add_argument("--metrics", type=Path, default=Path("reports/monitoring.json"))
    p.add_argument("--plots", type=Path, default=Path("reports/monitoring/batches.csv"))
    p.add_argument("--figures-dir", type=Path, default=Path("reports/figures/monitoring"))
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--ks-threshold", type=float, default=0.07)
    p.add_argument("--max-rmse-increase", type=float, default=0.2)
    p.add_argument("--min-drifted-features", type=int, default=1)
    p.add_argument("--use-multivariate", choices=("true", "false"), default="false")

    p = command("simulate", _simulate, "make a production batch from the stream pool")
    p.add_argument("--scenario", required=True)
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", default="", help="batch name; default <scenario>-s<seed>")
    p.add_argument("--stream", type=Path, default=Path("data/processed/stream.parquet"))
    p.add_argument("--production-dir", type=Path, default=Path("data/production"))
    p.add_argument("--features", action=argparse.BooleanOptionalAction, default=True,
                   help="write the batch's feature file (--no-features with --url)")
    p.add_argument("--labels", action="store_true", help="also write the labels file")
    p.add_argument("--url", default="", help="send the rows to this running service")

    p = command("report", _report, "write Project_Report.md from the pipeline's outputs")
    p.add_argument("--out", type=Path, default=Path("Project_Report.md"))
    p.add_argument("--metrics", type=Path, default=Path("reports/metrics.json"))
    p.add_argument("--tune", type=Path, default=Path("reports/tune.json"))
    p.add_argument("--best-params", type=Path, default=Path("models/best_params.json"))
    p.add_argument("--registry", type=Path, default=Path("reports/registry.json"))
    p.add_argument("--monitoring", type=Path, default=Path("reports/monitoring.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--data-dir", type=Path, default=Path("data/processed"))
    p.add_argument("--raw", type=Path, default=Path("data/raw/california_housing.parquet"))
    p.add_argument("--model", type=Path, default=Path("models/model.joblib"))
    p.add_argument("--ablation", type=Path, default=Path("reports/ablation.md"))

    p = command("rollback", _rollback, "move the production alias back to an earlier version")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--reason", default="")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from housing.logs import configure_logging

    args = build_parser().parse_args(argv)
    go_offline()
    configure_logging(args.command, logging.DEBUG if args.verbose else logging.INFO, LOGS_DIR)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        logger.error("%s failed: %s", args.command, err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
