"""The pipeline's stages, in dvc.yaml's order: one row each, naming the module whose
``run(params, paths)`` the stage calls, its typed params and paths, the shared stores it
talks to, and its help line. ``housing <stage>``, the checks of dvc.yaml and the code-deps
test all read this table, so adding a stage is one row here and one in dvc.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from housing.config import (
    EvaluatePaths,
    FeaturizePaths,
    MonitorPaths,
    PreparePaths,
    RegisterPaths,
    ReportPaths,
    StagePaths,
    TunePaths,
)
from housing.params import (
    EvaluateParams,
    FeaturizeParams,
    MonitorParams,
    PrepareParams,
    RegisterParams,
    ReportParams,
    StageParams,
    TuneParams,
)

TRACKING, OPTUNA = "tracking", "optuna"


@dataclass(frozen=True)
class Stage:
    name: str
    module: str                      # whose run(params, paths) the stage calls
    params: type[StageParams]        # dvc.yaml's `params:` lists exactly its keys
    paths: type[StagePaths]          # dvc.yaml's deps and outs come from its roles
    help: str
    stores: frozenset[str] = frozenset()  # checked before the stage starts
    loads_models: bool = False       # unpickles the project's estimators (code_deps)

    def param_keys(self) -> set[str]:
        """The dotted keys the stage reads: its section's, or (report) several sections'."""
        return self.params.keys("" if self.params is ReportParams else self.name)


STAGES: tuple[Stage, ...] = (
    Stage("monitor", "housing.monitoring.monitor", MonitorParams, MonitorPaths,
          "NannyML drift and performance estimation; the retrain gate",
          frozenset({TRACKING}), loads_models=True),
    Stage("prepare", "housing.data.prepare", PrepareParams, PreparePaths,
          "load, validate, snapshot and split the data"),
    Stage("featurize", "housing.features.featurize", FeaturizeParams, FeaturizePaths,
          "fit the feature pipeline on the training set"),
    Stage("tune", "housing.models.tune", TuneParams, TunePaths,
          "Optuna search with K-fold CV, then refit the best model",
          frozenset({TRACKING, OPTUNA}), loads_models=True),
    Stage("evaluate", "housing.models.evaluate", EvaluateParams, EvaluatePaths,
          "test-set metrics, baselines, plots and figures", loads_models=True),
    Stage("register", "housing.models.register", RegisterParams, RegisterPaths,
          "register the model in MLflow unless it is there; the release gate",
          frozenset({TRACKING}), loads_models=True),
    Stage("report", "housing.reporting.report", ReportParams, ReportPaths,
          "write Project_Report.md from the pipeline's outputs"),
)
STAGE: dict[str, Stage] = {stage.name: stage for stage in STAGES}


def code_deps(stage: Stage) -> list[str]:
    """dvc.yaml's `src/` deps of ``stage``: the code it runs (housing.code_deps)."""
    from housing import code_deps

    return code_deps.dep_paths(code_deps.modules(stage.module, stage.loads_models))
