"""Team mode on real servers: PostgreSQL, a real `mlflow server` on a free loopback port,
Optuna workers sharing one study (one killed with SIGKILL), a DVC remote that a second
clone pulls from, and the service riding out a registry outage.

Skips with a reason where no PostgreSQL is reachable (a laptop); with
HOUSING_REQUIRE_SERVERS=1 (CI) it fails instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from housing.deployment.predict.compiled import TOLERANCE
from housing.dev import stack as team
from housing.dev.servers import NotReady, free_port, wait_ready
from housing.dev.workspace import TRAINING_STAGES, run, set_params

pytestmark = pytest.mark.slow

POSTGRES = os.environ.get("HOUSING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
MODEL = "california-housing"


@pytest.fixture(scope="module")
def postgres() -> str:
    import psycopg

    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as err:
        reason = f"no PostgreSQL at {POSTGRES}: {str(err).strip().splitlines()[0]}"
        pytest.skip(reason)
    return POSTGRES


def new_stack(folder: Path) -> team.Stack:
    return team.Stack(postgres=POSTGRES, prefix=f"t{uuid.uuid4().hex[:10]}", host="127.0.0.1",
                      port=free_port(), s3_port=free_port(), folder=folder)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, new_workspace, postgres):
    return new_workspace(tmp_path_factory.mktemp("team") / "housing")


@pytest.fixture(scope="module")
def server(workspace, tmp_path_factory):
    """The local team stack, brought up for this module and purged after it."""
    stack = new_stack(tmp_path_factory.mktemp("stack"))
    first = team.up(stack, workspace)
    yield stack
    team.down(stack, purge=True)
    assert not team.healthy(stack) and first["mlflow_server"]["healthy"]


def env_for(stack: team.Stack) -> dict[str, str]:
    """A team member's environment: the tracking server, and the S3 store's endpoint and
    keys (the DVC remote, the prediction log), as `housing stack up` prints them."""
    env = stack.env()
    env.pop("OPTUNA_STORAGE")  # the workspace's params name the study storage
    return env


def client(stack: team.Stack):
    from mlflow.tracking import MlflowClient

    return MlflowClient(stack.tracking_uri)


def test_stack_up_is_idempotent(server, workspace):
    pid, s3_pid = team.server_pid(server), team.s3_server(server).pid()
    again = team.up(server, workspace)
    assert again["mlflow_server"] == {"uri": server.tracking_uri, "healthy": True, "pid": pid}
    assert again["s3_server"]["healthy"] and again["s3_server"]["pid"] == s3_pid
    assert "AWS_SECRET_ACCESS_KEY" not in json.dumps(again)  # the secret stays in its file
    assert server.s3_secret() not in json.dumps(again)
    assert again["databases"] == {"mlflow": True, "optuna": True}
    remote = run(["dvc", "remote", "list"], workspace).stdout
    assert "team" in remote and str(server.remote) in remote


@pytest.fixture(scope="module")
def team_run(server, workspace):
    """dvc repro with the tracking server and Optuna on PostgreSQL, then a retrain on an
    accepted production batch, pushed to the remote and committed."""
    set_params(workspace, {"tune": {"storage": server.optuna_url}})
    env = env_for(server)
    run(["dvc", "repro"], workspace, env=env)
    run(["housing", "simulate", "--scenario", "geo_inland", "--rows", "1000", "--seed", "2",
         "--labels"], workspace, env=env)
    retrain = run(["dvc", "repro"], workspace, env=env)
    run(["dvc", "push"], workspace, env=env)
    run(["git", "add", "-A"], workspace)
    run(["git", "commit", "-qm", "retrained on geo_inland-s2"], workspace)
    return retrain


def test_every_stage_works_against_the_server(team_run, server, workspace):
    for stage in TRAINING_STAGES:
        assert f"Running stage '{stage}'" in team_run.stdout
    mlflow = client(server)
    versions = sorted(int(v.version) for v in mlflow.search_model_versions(f"name='{MODEL}'"))
    assert versions == [1, 2]
    # both pass the small thresholds: challenger is the one outside production
    aliases = mlflow.get_registered_model(MODEL).aliases
    assert int(aliases["challenger"]) == 3 - int(aliases["production"])
    # tune: one parent run per family study, one child run per finished trial
    runs = mlflow.search_runs(experiment_ids=[mlflow.get_experiment_by_name(MODEL)
                                              .experiment_id], max_results=500)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    # two families x n_trials=3, then the retrain from production's params: x retrain_trials=2
    assert len(children) == 2 * 3 + 2 * 2
    # the monitor read the reference and the model from the server, and accepted the batch
    monitoring = json.loads((workspace / "reports/monitoring/latest.json").read_text())
    assert monitoring["production_version"] == 1 and monitoring["retrain"] is True
    accepted = json.loads((workspace / "data/accepted_batches.json").read_text())["batches"]
    assert [b["batch"] for b in accepted] == ["geo_inland-s2"]
    assert (workspace / "data/accepted/geo_inland-s2.parquet").is_file()


def test_optuna_studies_live_in_postgres_with_exact_budgets(team_run, server):
    import optuna

    storage = server.optuna_url
    summaries = optuna.get_all_study_summaries(storage)
    assert len(summaries) == 4  # two families, before and after the retrain
    finished = []
    for summary in summaries:
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        states = [t.state for t in study.trials]
        finished.append(states.count(optuna.trial.TrialState.COMPLETE)
                        + states.count(optuna.trial.TrialState.PRUNED))
    assert sorted(finished) == [2, 2, 3, 3]  # n_trials=3, then retrain_trials=2


def test_history_is_the_same_from_any_machine_and_has_rollbacks(team_run, server, workspace,
                                                                  tmp_path):
    env = env_for(server)
    run(["housing", "rollback", "--version", "2", "--reason", "try the retrain"], workspace,
        env=env)
    run(["housing", "rollback", "--version", "1", "--reason", "back again"], workspace, env=env)
    here = run(["housing", "history", "--json"], workspace, env=env).stdout
    elsewhere_dir = tmp_path / "other-machine"
    elsewhere_dir.mkdir()
    elsewhere = run(["housing", "history", "--json"], elsewhere_dir, env=env).stdout
    assert here == elsewhere
    events = [json.loads(line) for line in here.splitlines()]
    assert [(e["event"], e["version"]) for e in events] == [
        ("register", 1), ("register", 2), ("rollback", 2), ("rollback", 1)]
    assert events[-1]["previous"] == 2 and events[-1]["reason"] == "back again"
    assert int(client(server).get_model_version_by_alias(MODEL, "production").version) == 1


def test_a_clone_pulls_and_skips_training(team_run, server, workspace, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(workspace), str(clone)], tmp_path)
    # as `housing stack up` does: the S3 remote, verify on
    team.configure_remote(server.remote, clone, server.s3_endpoint)
    run(["dvc", "pull"], clone, env=env_for(server))
    result = run(["dvc", "repro"], clone, env=env_for(server))
    for stage in TRAINING_STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout
    # and the training data, accepted production rows included, rebuilds to the same bytes
    expected = (workspace / "data/processed/train.parquet").read_bytes()
    run(["dvc", "repro", "--force", "--single-item", "prepare"], clone)
    assert (clone / "data/processed/train.parquet").read_bytes() == expected
    # On the embedded defaults instead (the README's path with a remote): the clone's own
    # new store gets the pulled model as version 1, in production, and nothing retrains.
    assert not (clone / "mlflow.db").exists()
    own = run(["dvc", "repro"], clone)
    for stage in TRAINING_STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in own.stdout
    assert "registered california-housing version 1 with aliases staging, production" \
        in own.stderr
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], clone).stdout
    assert status == ""


def studies(storage) -> set[str]:
    import optuna

    return {s.study_name for s in optuna.get_all_study_summaries(storage)}


def trial_states(storage, skip: set[str]) -> list[str]:
    """The states of the trials of every study but those in ``skip``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return [t.state.name for name in sorted(studies(storage) - skip)
            for t in optuna.load_study(study_name=name, storage=storage).trials]


def polling_storage(url: str):
    """One storage object for the test's own polling, holding no idle connections: a URL
    string builds a new engine (and pool) on every call, and polling every 0.2 s on a
    slow machine filled PostgreSQL's 100 connections."""
    import optuna
    from sqlalchemy.pool import NullPool

    return optuna.storages.RDBStorage(url, engine_kwargs={"poolclass": NullPool},
                                      skip_compatibility_check=True)


def test_two_workers_one_killed_end_with_exactly_the_budget(server, new_workspace, tmp_path):
    """Two workers on one study at the same time, one thread each; the extra one is killed
    mid-trial while the main one runs, and the main one ends the study at the budget."""
    ws = new_workspace(tmp_path / "workers")
    url = server.optuna_url
    storage = polling_storage(url)
    # The full range of boosting rounds: trials of seconds, so that the kill lands mid-trial.
    set_params(ws, {"tune": {"model": "lightgbm", "n_trials": 8, "seed": 7, "max_rounds": 0,
                             "storage": url, "n_threads": 1}})
    run(["dvc", "repro", "featurize"], ws)
    env = {**os.environ, **env_for(server), "HOME": str(ws.parent)}
    existing = studies(storage)
    workers = {name: subprocess.Popen(cmd, cwd=ws, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
               for name, cmd in (("extra", ["housing", "tune", "--trials-only", "--worker",
                                            "1"]),
                                 ("main", ["housing", "tune"]))}
    try:
        deadline, concurrent = time.monotonic() + 300, False
        while time.monotonic() < deadline and not concurrent:
            concurrent = trial_states(storage, existing).count("RUNNING") >= 2
            time.sleep(0.2)
        assert concurrent, "the two workers never ran a trial at the same time"
        time.sleep(1.0)  # past the trial's first heartbeat (see test_reproducible)
        os.kill(workers["extra"].pid, signal.SIGKILL)
        workers["extra"].wait(timeout=30)
        assert workers["main"].wait(timeout=900) == 0
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.kill()
    states = trial_states(storage, existing)
    assert states.count("COMPLETE") + states.count("PRUNED") == 8
    assert "RUNNING" not in states and states.count("FAIL") >= 1
    assert (ws / "models/model.joblib").exists()


def test_bad_configuration_fails_fast_and_names_the_store(workspace, server):
    cases = [
        (["housing", "tune"], {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"},
         "MLflow tracking server http://127.0.0.1:"),
        (["housing", "register"], {"MLFLOW_TRACKING_URI": "postgresql://nobody:wrong@"
                                                          "127.0.0.1:5432/nowhere"},
         "MLflow tracking store postgresql://***@127.0.0.1:5432/nowhere is unreachable"),
        (["housing", "tune"], {"MLFLOW_TRACKING_URI": server.tracking_uri,
                               "OPTUNA_STORAGE": "postgresql://postgres@127.0.0.1:1/optuna"},
         "Optuna storage postgresql://***@127.0.0.1:1/optuna is unreachable"),
        (["housing", "tune"], {"MLFLOW_TRACKING_URI": server.tracking_uri,
                               "OPTUNA_STORAGE": "postgres://postgres@127.0.0.1/optuna"},
         "not a usable database URL"),
    ]
    params = (workspace / "params.yaml").read_text()
    set_params(workspace, {"tune": {"storage": ""}})
    try:
        for cmd, env, message in cases:
            # The timeout only stops a hang (a store that retries for minutes fails here).
            result = run(cmd, workspace, env=env, check=False, timeout=60)
            assert result.returncode == 1 and message in result.stderr, (cmd, result.stderr)
    finally:
        (workspace / "params.yaml").write_text(params)
    status = run(["git", "status", "--porcelain"], workspace).stdout
    assert status.strip() == ""  # nothing written
    missing = run(["dvc", "push", "-r", "nowhere"], workspace, check=False, timeout=60)
    assert missing.returncode != 0 and "nowhere" in missing.stderr


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_service_loads_from_the_server_and_outlives_it(postgres, register_small_model,
                                                       repo_root, tmp_path, district,
                                                       store_in):
    stack = new_stack(tmp_path / "stack")
    try:
        team.up(stack, tmp_path)
        with store_in(tmp_path, stack.tracking_uri):
            register_small_model(tmp_path, max_iter=30)
        port = free_port()
        env = {**os.environ, "MLFLOW_TRACKING_URI": stack.tracking_uri, "WEB_CONCURRENCY": "1",
               "HOUSING_BIND": f"127.0.0.1:{port}", "HOUSING_MODEL_POLL_SECONDS": "1",
               "HOUSING_PREDICTION_LOG": "off", "HOUSING_TREE_CACHE": str(tmp_path / "trees")}
        proc = subprocess.Popen(["gunicorn", "-c", str(repo_root / "gunicorn.conf.py"),
                                 "housing.deployment.app:create_app()"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            with contextlib.suppress(NotReady):  # the assertion below names what is wrong
                wait_ready(f"{base}/ready", proc, timeout=120)
            status, ready = get(f"{base}/ready")
            assert status == 200 and ready["registry"] == "reachable"
            request = urllib.request.Request(f"{base}/predict", data=json.dumps(district).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                before = json.loads(response.read())["predictions"][0]["value"]
            team.stop_server(stack)
            time.sleep(3)  # a few polls against the stopped server
            with urllib.request.urlopen(request, timeout=10) as response:
                # the same version; its trees may have moved to lleaves meanwhile
                after = json.loads(response.read())["predictions"][0]["value"]
                assert after == pytest.approx(before, rel=0, abs=TOLERANCE)
            status, ready = get(f"{base}/ready")
            assert status == 200 and ready["registry"] == "unreachable"
            assert "registry_error" not in ready  # open to probes: no cause named
            status, model = get(f"{base}/model")
            assert status == 200 and model["registry"] == "unreachable" and model["version"] == "1"
            assert model["registry_error"]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    finally:
        team.down(stack, purge=True)


def test_alias_look_up_over_rest_agrees_with_the_client(team_run, server):
    from housing.registry.lookup import alias_version

    mlflow = client(server)
    for alias in ("production", "challenger", "staging"):
        expected = int(mlflow.get_model_version_by_alias(MODEL, alias).version)
        assert alias_version(MODEL, alias, server.tracking_uri) == expected
    assert alias_version(MODEL, "no-such-alias", server.tracking_uri) is None
