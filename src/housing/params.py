"""Stage parameters: one frozen, typed object per section of params.yaml, loaded in one place.

params.yaml is the single source of truth (DVC tracks it, ``dvc exp run -S`` edits it).
``load_params`` reads and validates the whole file before any stage does work: an unknown
key, a missing key, a wrong type or a value out of range is a ParamsError that names the
key, the value given and what is allowed. Each stage's entry point takes its own object
(``params.tune``...) and passes it down. dvc.yaml lists, for each stage, exactly the keys
its object holds (checked by a test).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from housing.config import FEATURES
from housing.environment import SettingsError, problems

PARAMS_FILE = Path("params.yaml")

# Strict scalars: YAML's `true`/`"0.5"`/`3.0` are not silently coerced into another type.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Seed = Annotated[Int, Field(ge=0)]

Family = Literal["hist_gradient_boosting", "lightgbm", "random_forest", "elastic_net"]
ModelChoice = Literal["hist_gradient_boosting", "lightgbm", "random_forest", "elastic_net",
                      "ensemble"]
Feature = Literal[FEATURES]  # type: ignore[valid-type]


class ParamsError(SettingsError):
    """params.yaml broke its schema; ``problems`` holds one readable line per key."""

    def __init__(self, source: Path | str, found: list[str]):
        super().__init__(str(source), found)
        self.args = (f"invalid parameters in {source}:\n  " + "\n  ".join(found),)


class StageParams(BaseModel):
    """Base of every section: frozen, no unknown keys, no defaults (params.yaml has them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def keys(cls, prefix: str) -> set[str]:
        """The dotted params.yaml keys this object holds, e.g. {'tune.seed', ...}."""
        out: set[str] = set()
        for name, info in cls.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, StageParams):
                out |= kind.keys(f"{prefix}.{name}" if prefix else name)
            else:
                out.add(f"{prefix}.{name}" if prefix else name)
        return out


class MonitorParams(StageParams):
    chunk_size: Annotated[Int, Field(ge=100)]
    ks_threshold: Annotated[Float, Field(gt=0, lt=1)]
    min_drifted_features: Annotated[Int, Field(ge=1, le=len(FEATURES))]
    use_multivariate: Bool
    max_rmse_increase: Annotated[Float, Field(ge=0)]
    max_coverage_shortfall: Annotated[Float, Field(gt=0, lt=1)]
    max_outside_share: Annotated[Float, Field(ge=0, lt=1)]
    max_missing_share: Annotated[Float, Field(ge=0, lt=1)]
    max_mode_share: Annotated[Float, Field(gt=0, lt=1)]
    dle_max_outside_share: Annotated[Float, Field(ge=0, lt=1)]
    detail_batches: Annotated[Int, Field(ge=1, le=1000)]


class PrepareParams(StageParams):
    seed: Seed
    test_seed: Seed
    stream_fraction: Annotated[Float, Field(ge=0, lt=0.8)]  # the test set takes 0.2
    train_sample_rows: Annotated[Int, Field(ge=0)]


class FeaturizeParams(StageParams):
    log_columns: tuple[Feature, ...]
    rotation_angles: tuple[Annotated[Float, Field(ge=-360, le=360)], ...]
    city_distances: Bool
    neighbor_ks: tuple[Annotated[Int, Field(ge=1, le=1000)], ...]
    neighbor_weighting: Literal["uniform", "distance"]
    neighbor_coordinates: Literal["sphere", "degrees"]
    seed: Seed


class TuneParams(StageParams):
    model: ModelChoice
    ensemble_members: tuple[Family, ...]
    log_target: Bool
    n_trials: Annotated[Int, Field(ge=0)]
    retrain_trials: Annotated[Int, Field(ge=1)]
    cv_folds: Annotated[Int, Field(ge=2, le=20)]
    max_rounds: Annotated[Int, Field(ge=0)]
    seed: Seed
    timeout: Annotated[Float, Field(ge=0)]
    storage: Str
    n_threads: Annotated[Int, Field(ge=1, le=256)]
    interval_coverage: Annotated[Float, Field(gt=0, lt=1)]

    @field_validator("ensemble_members")
    @classmethod
    def _members(cls, members: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("model") == "ensemble" and len(set(members)) < 2:
            raise ValueError("model: ensemble needs two or more different families")
        return members

    @property
    def families(self) -> tuple[str, ...]:
        """The families this run tunes: the ensemble's members, or the one model."""
        return self.ensemble_members if self.model == "ensemble" else (self.model,)


class EvaluateParams(StageParams):
    seed: Seed
    permutation_repeats: Annotated[Int, Field(ge=1)]
    residual_bins: Annotated[Int, Field(ge=2)]


class RegisterParams(StageParams):
    max_rmse: Annotated[Float, Field(gt=0)]
    min_r2: Annotated[Float, Field(le=1)]
    min_improvement: Annotated[Float, Field(ge=0)]
    min_live_rows: Annotated[Int, Field(ge=0)]


with warnings.catch_warnings():
    # pydantic's model class is an ABC, so a field named `register` shadows ABCMeta.register
    # on the class; instances hold the field's value, which is all that is ever read.
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class ReportParams(StageParams):
        """The report describes the data, features and search it summarises, and the gate."""

        prepare: PrepareParams
        featurize: FeaturizeParams
        tune: TuneParams
        register: RegisterParams

    class PipelineParams(StageParams):
        """The whole of params.yaml."""

        monitor: MonitorParams
        prepare: PrepareParams
        featurize: FeaturizeParams
        tune: TuneParams
        evaluate: EvaluateParams
        register: RegisterParams

        @property
        def report(self) -> ReportParams:
            return ReportParams(prepare=self.prepare, featurize=self.featurize, tune=self.tune,
                                register=self.register)


def parse_params(data: Any, source: Path | str = PARAMS_FILE) -> PipelineParams:
    """Validate a loaded params mapping; raise ParamsError naming every bad key."""
    try:
        return PipelineParams.model_validate(data)
    except ValidationError as err:
        raise ParamsError(source, problems(
            err, PipelineParams, lambda loc: ".".join(map(str, loc)))) from None


def load_params(path: Path | str = PARAMS_FILE) -> PipelineParams:
    """Read and validate params.yaml (or another file of the same layout)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(path, ["file not found"]) from None
    except yaml.YAMLError as err:
        raise ParamsError(path, [f"not valid YAML: {err}"]) from None
    return parse_params(data, path)
