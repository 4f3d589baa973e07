"""Optuna studies that several workers share, and that survive a killed worker.

- **Heartbeats.** The RDB storage records a heartbeat for every running trial; a trial
  whose worker died (SIGKILL, a lost machine) goes stale after ``GRACE_SECONDS`` and is
  marked FAIL. If it had drawn all its parameters (``mark_sampled``), Optuna's
  RetryHeartbeatStaleTrialCallback queues a copy with them. A trial killed while it drew
  them is not copied: the parameters it had would be fixed in the copy, and the sampler
  would then draw the rest from a different point of its random stream. The next trial
  draws them all afresh, from the same seed and history.
- **An exact budget.** Each trial first checks that the study's finished trials plus the
  running ones that started before it leave room under ``n_trials``; otherwise it ends as
  FAIL (tagged ``budget_taken``) and never counts. Optuna's MaxTrialsCallback checks only
  after a trial, so two workers overshot the budget.
- **A per-trial seed.** Each trial's sampler is seeded from (seed, worker, number of
  finished trials), not from one random stream per process. A rerun after a crash
  therefore samples exactly what the uninterrupted run would have: it first waits for the
  crashed trial to go stale, reruns its queued copy (or draws the same parameters again),
  and then continues with the same seeds and the same history.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
GRACE_SECONDS = 15
POLL_SECONDS = 1.0
MAX_RETRY = 3
SAMPLED = "params_sampled"


class BudgetTaken(Exception):
    """The study's budget was filled by other workers while this trial started."""


@contextlib.contextmanager
def _experimental_ok():
    """Heartbeats are marked experimental in Optuna 5; they are what this module relies on."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def mark_sampled(trial) -> None:
    """Record that ``trial`` has drawn every parameter: from here on a copy of it, should
    its worker die, runs exactly what it would have run."""
    trial.set_user_attr(SAMPLED, True)


class RetrySampledStaleTrial:
    """A heartbeat-stale-trial callback: Optuna's retry, for trials that drew all their
    parameters (``mark_sampled``); others are only failed (see the module docstring)."""

    def __init__(self, max_retry: int) -> None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        with _experimental_ok():
            self._retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study, trial) -> None:
        if trial.user_attrs.get(SAMPLED):
            self._retry(study, trial)
        else:
            logger.info("trial %d died while drawing its parameters: not retried as a copy",
                        trial.number)


def make_storage(url: str, grace_seconds: int = GRACE_SECONDS):
    """An Optuna RDB storage with heartbeats and retries of stale trials."""
    from optuna.storages import RDBStorage

    from housing.connections import engine_kwargs

    with _experimental_ok():
        return RDBStorage(url, engine_kwargs=engine_kwargs(url),
                          heartbeat_interval=HEARTBEAT_SECONDS, grace_period=grace_seconds,
                          heartbeat_stale_trial_callback=RetrySampledStaleTrial(MAX_RETRY))


def fail_stale(study) -> None:
    """Mark trials whose worker stopped beating as FAIL (and queue their retries)."""
    import optuna

    with _experimental_ok():
        optuna.storages.fail_stale_trials(study)


def trial_seed(seed: int, worker: int, finished: int) -> int:
    """The sampler's seed for the next trial: fixed by the seed, the worker and the history."""
    return int(np.random.SeedSequence([seed, worker, finished]).generate_state(1)[0])


def sampler(seed: int, n_trials: int):
    import optuna

    return optuna.samplers.TPESampler(seed=seed,
                                      n_startup_trials=max(5, min(10, n_trials // 3)))


def pruner():
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def create_study(study_name: str, storage, n_trials: int):
    """Create the study, or join it if another worker (or an earlier run) made it."""
    import optuna

    return optuna.create_study(study_name=study_name, storage=storage, direction="minimize",
                               sampler=sampler(0, n_trials), pruner=pruner(),
                               load_if_exists=True)


def _states(study) -> dict[str, list]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return {state: [t for t in trials if t.state == getattr(TrialState, state)]
            for state in ("COMPLETE", "PRUNED", "RUNNING", "WAITING")}


def check_budget(study, trial, n_trials: int) -> None:
    """Raise BudgetTaken unless this trial fits: finished trials plus the running ones that
    started before it (lower numbers) must leave room under ``n_trials``."""
    states = _states(study)
    ahead = sum(t.number < trial.number for t in states["RUNNING"])
    if len(states["COMPLETE"]) + len(states["PRUNED"]) + ahead >= n_trials:
        trial.set_user_attr("budget_taken", True)
        raise BudgetTaken(f"trial {trial.number}: the study's {n_trials} trials are taken")


def settle(study, timeout: float) -> None:
    """Wait until the trials that were running when this worker joined have finished or
    gone stale (and been queued again): so a rerun after a crash starts from the state the
    uninterrupted run had."""

    running = {t.number for t in _states(study)["RUNNING"]}
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        fail_stale(study)
        running &= {t.number for t in _states(study)["RUNNING"]}
        if running:
            time.sleep(POLL_SECONDS)
    if running:
        logger.warning("trials %s still running after %.0f s; going on", sorted(running),
                       timeout)


def optimize(study_name: str, storage, objective: Callable, *, n_trials: int, seed: int,
             worker: int, timeout: float | None = None,
             enqueue: dict[str, Any] | None = None) -> None:
    """Run trials of ``objective`` until the study holds ``n_trials`` finished ones, counted
    over every worker; each trial with its own deterministically seeded sampler. A new
    study's first trial is ``enqueue``, when given."""
    import optuna
    from tqdm import tqdm

    study = create_study(study_name, storage, n_trials)
    if enqueue:
        study.enqueue_trial(enqueue, skip_if_exists=True)
    settle(study, timeout=GRACE_SECONDS + 5 * 60)
    deadline = time.monotonic() + timeout if timeout else None
    with tqdm(total=n_trials, desc=study_name, unit="trial") as bar:
        while True:
            fail_stale(study)
            states = _states(study)
            finished = len(states["COMPLETE"]) + len(states["PRUNED"])
            bar.update(finished - bar.n)
            if finished >= n_trials or (deadline and time.monotonic() > deadline):
                return
            if finished + len(states["RUNNING"]) >= n_trials and not states["WAITING"]:
                time.sleep(POLL_SECONDS)  # others' running trials may fill the budget
                continue
            study = optuna.load_study(study_name=study_name, storage=storage,
                                      sampler=sampler(trial_seed(seed, worker, finished),
                                                      n_trials),
                                      pruner=pruner())
            study.optimize(objective, n_trials=1, catch=(BudgetTaken,))
