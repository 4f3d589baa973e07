from pathlib import Path

from housing.config import optuna_storage, tracking_uri, workspace_root


def test_workspace_root_from_a_temp_experiment(tmp_path, monkeypatch):
    exp_dir = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    exp_dir.mkdir(parents=True)
    monkeypatch.setenv("DVC_ROOT", str(exp_dir))
    assert workspace_root() == (tmp_path / "repo").resolve()


def test_workspace_root_is_cwd_outside_dvc(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert workspace_root() == tmp_path.resolve()


def test_stores_default_to_the_workspace_and_follow_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    assert tracking_uri() == f"sqlite:///{Path(tmp_path).resolve() / 'mlflow.db'}"
    assert optuna_storage("") == f"sqlite:///{Path(tmp_path).resolve() / 'optuna.db'}"
    assert optuna_storage("postgresql://db/optuna") == "postgresql://db/optuna"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert tracking_uri() == "http://mlflow:5000"
