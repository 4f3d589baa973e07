"""prepare on a corrupted scikit-learn cache fails clearly and writes nothing."""

import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import get_data_home

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


def test_bad_data_names_column_and_writes_nothing(corrupted_cache, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DataValidationError, match="column 'MedInc': 3 rows missing"):
        prepare.run(raw_dir=out / "raw", out_dir=out / "processed", stream_fraction=0.1,
                    seed=1, data_home=str(corrupted_cache))
    assert not out.exists()


def test_missing_cache_is_a_clear_error(tmp_path, monkeypatch):
    import sklearn.datasets._california_housing as cal

    # No cache and no network: make the download fail the way an offline machine does.
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(cal, "_fetch_remote", offline)
    with pytest.raises(DataUnavailableError, match="SCIKIT_LEARN_DATA"):
        prepare.run(raw_dir=tmp_path / "raw", out_dir=tmp_path / "p", stream_fraction=0.1,
                    seed=1, data_home=str(tmp_path / "empty"))
    assert not (tmp_path / "raw").exists()


def test_prepare_writes_identical_bytes_twice(tmp_path):
    for name in ("a", "b"):
        prepare.run(raw_dir=tmp_path / name / "raw", out_dir=tmp_path / name / "processed",
                    stream_fraction=0.1, seed=3, train_sample_rows=0)
    for rel in ("raw/california_housing.parquet", "processed/train.parquet",
                "processed/test.parquet", "processed/stream.parquet"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    shutil.rmtree(tmp_path / "b")
