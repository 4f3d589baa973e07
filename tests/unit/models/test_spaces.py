"""The search spaces: the cap on boosting rounds that quick runs use."""

import optuna
import pytest

from housing.models import spaces


def distributions(family: str, max_rounds: int) -> dict:
    """The distributions one sampled trial of ``family`` drew from."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    spaces.suggest_params(trial, family, max_rounds)
    return trial.distributions


@pytest.mark.parametrize(("family", "name", "full"), [
    ("hist_gradient_boosting", "max_iter", (200, 1000)),
    ("lightgbm", "n_estimators", (300, 1200)),
])
def test_max_rounds_caps_boosting_rounds_and_zero_keeps_the_space(family, name, full):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    uncapped = distributions(family, 0)
    assert (uncapped[name].low, uncapped[name].high) == full
    capped = distributions(family, 100)
    assert (capped[name].low, capped[name].high) == (100, 100)
    wide = distributions(family, 650)
    assert wide[name].low == full[0] and wide[name].high <= 650
    assert (wide[name].high - wide[name].low) % 100 == 0
    # only the rounds change: every other dimension is the same distribution
    assert {k: v for k, v in capped.items() if k != name} == \
        {k: v for k, v in uncapped.items() if k != name}
