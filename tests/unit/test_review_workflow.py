"""The review workflow runs a pull request's unreviewed code: nothing it runs can write
(.github/workflows/review.yml)."""

from __future__ import annotations

import re

import pytest
import yaml


@pytest.fixture(scope="module")
def workflow(repo_root) -> dict:
    return yaml.safe_load((repo_root / ".github/workflows/review.yml").read_text())


@pytest.fixture(scope="module")
def steps(workflow) -> list[dict]:
    [job] = workflow["jobs"].values()
    return job["steps"]


def test_the_token_has_least_privilege(workflow):
    [job] = workflow["jobs"].values()
    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "env" not in job and "env" not in workflow  # no secret for every step


def test_checkout_keeps_no_credentials(steps):
    [checkout] = [s for s in steps if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["persist-credentials"] is False


def test_only_the_comment_step_sees_the_token_and_it_runs_a_pinned_cml(steps):
    with_token = [s for s in steps if "GITHUB_TOKEN" in str(s)]
    assert [s["name"] for s in with_token] == ["Post it on the pull request"]
    [post] = with_token
    assert re.fullmatch(r"npx --yes @dvcorg/cml@\d+\.\d+\.\d+ comment create .+", post["run"])
    assert "housing" not in post["run"] and "dvc" not in post["run"].replace("@dvcorg", "")


def test_the_experiment_registers_into_the_runners_own_store(steps):
    [experiment] = [s for s in steps if "dvc exp run" in s.get("run", "")]
    assert experiment["env"]["MLFLOW_TRACKING_URI"].startswith("sqlite:///${{ runner.temp }}")
    assert "secrets." not in str(experiment)
    [review] = [s for s in steps if "housing review" in s.get("run", "")]
    assert review["env"] == {
        "MLFLOW_TRACKING_URI": "${{ secrets.MLFLOW_TRACKING_URI_READONLY }}"}
