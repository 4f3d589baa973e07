"""prepare on a corrupted scikit-learn cache fails clearly and writes nothing."""

import shutil
from dataclasses import asdict, replace
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import get_data_home

from housing.config import PreparePaths
from housing.data import prepare
from housing.data.load import DataUnavailableError
from housing.data.validate import DataValidationError

CACHE_FILE = "cal_housing_py3.pkz"


@pytest.fixture
def corrupted_cache(tmp_path) -> Path:
    """A copy of the real cache with 3 incomes missing (column 1 of the stored array)."""
    raw = joblib.load(Path(get_data_home()) / CACHE_FILE)
    raw = np.array(raw, dtype=float)
    raw[[5, 17, 900], 1] = np.nan
    home = tmp_path / "sklearn_cache"
    home.mkdir()
    joblib.dump(raw, home / CACHE_FILE, compress=6)
    return home


def paths_under(root: Path) -> PreparePaths:
    """The stage's own paths, moved under ``root``."""
    defaults = PreparePaths()
    return replace(defaults, **{k: root / v for k, v in asdict(defaults).items()})


def test_bad_data_names_column_and_writes_nothing(corrupted_cache, tmp_path, pipeline_params):
    out = tmp_path / "out"
    with pytest.raises(DataValidationError, match="column 'MedInc': 3 rows missing"):
        prepare.run(pipeline_params.prepare, paths_under(out), data_home=str(corrupted_cache))
    assert not out.exists()


def test_missing_cache_is_a_clear_error(tmp_path, monkeypatch, pipeline_params):
    import sklearn.datasets._california_housing as cal

    # No cache and no network: make the download fail the way an offline machine does.
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(cal, "_fetch_remote", offline)
    with pytest.raises(DataUnavailableError, match="SCIKIT_LEARN_DATA"):
        prepare.run(pipeline_params.prepare, paths_under(tmp_path / "out"),
                    data_home=str(tmp_path / "empty"))
    assert not (tmp_path / "out").exists()


def test_prepare_writes_identical_bytes_twice(tmp_path, pipeline_params):
    params = pipeline_params.prepare.model_copy(update={"seed": 3})
    for name in ("a", "b"):
        prepare.run(params, paths_under(tmp_path / name))
    for path in PreparePaths().role("out").values():
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path
    shutil.rmtree(tmp_path / "b")
