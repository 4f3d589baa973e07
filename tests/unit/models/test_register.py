"""The register stage's identity of a registration and the experiment it runs in."""

import pytest

from housing.config import Experiment, experiment_context
from housing.models.register import fingerprint
from housing.params import RegisterParams

TH = RegisterParams(max_rmse=0.5, min_r2=0.75, min_improvement=0.0, min_live_rows=0)


def test_fingerprint_follows_model_test_set_and_params():
    base = fingerprint("a" * 32, "b" * 32, TH)
    assert base == fingerprint("a" * 32, "b" * 32, TH.model_copy())
    assert len({base, fingerprint("c" * 32, "b" * 32, TH), fingerprint("a" * 32, "c" * 32, TH),
                fingerprint("a" * 32, "b" * 32, TH.model_copy(update={"max_rmse": 0.6}))}) == 4


def test_experiment_context_comes_from_dvcs_variables(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert experiment_context() is None
    monkeypatch.setenv("DVC_EXP_NAME", "lucid-dace")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc")
    assert experiment_context() == Experiment("lucid-dace", "abc")


@pytest.mark.parametrize("name", ["it's", "a\\\\b"])
def test_search_values_are_never_spliced_with_quotes(name):
    from housing.registry.lookup import fingerprint_version

    with pytest.raises(ValueError, match="not a registry name"):
        fingerprint_version(name, "f" * 32, uri="http://127.0.0.1:9")


@pytest.mark.parametrize("experiment", ["x' or name != '", "a\\b", "it's"])
def test_an_experiment_name_is_never_spliced_into_a_registry_filter(experiment):
    """`housing promote --experiment NAME` looks the name up in an MLflow search filter: a
    name that could end its quotes is refused before any store is asked."""
    from housing.models import release

    with pytest.raises(ValueError, match="not a registry name, experiment or fingerprint"):
        release.chosen_version("california-housing", version=None, experiment=experiment)
