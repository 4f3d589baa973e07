"""The last good version keeps serving: a version that fails to download, to load, to pass
its checks or to predict is never adopted, by a running worker or by a new one, and the
refusal is visible in /model, the log and `housing history`."""

from __future__ import annotations

import numpy as np
import pytest

from housing.deployment.served_model import ModelHolder

ROW = np.array([[8.3, 41.0, 6.9, 1.0, 322.0, 2.5, 37.88, -122.23]])


@pytest.fixture
def own_store(tmp_path, register_small_model, store_in):
    """A store of its own, version 1 in production: these tests tamper with artifacts."""
    with store_in(tmp_path):
        register_small_model(tmp_path, max_iter=20)
        yield tmp_path


def test_a_version_that_crashes_native_code_dies_in_the_probe_not_in_the_worker(
        own_store, publish_tampered, tmp_path):
    from housing.registry import events

    serving = ModelHolder("california-housing", "production", state_dir=tmp_path / "state")
    assert serving.refresh() and serving.current.version == "1"
    bad = publish_tampered(own_store, "crashes")
    assert not serving.refresh()  # this process would have died with the old holder
    assert serving.current.version == "1"
    assert np.isfinite(serving.current.predict(ROW)).all()
    reason = serving.refused[bad]
    assert "killed the probe process (SIGSEGV)" in reason
    assert serving.refusals()["refused"] == [{"version": bad, "reason": reason}]
    # a new worker on this machine: the verdict is known, the last good version serves
    fresh = ModelHolder("california-housing", "production", state_dir=tmp_path / "state")
    assert not fresh.refresh() and fresh.current.version == "1"
    assert fresh.refused[bad] == reason and f"version {bad} refused" in fresh.last_error
    refusals = [e for e in events.history("california-housing") if e["event"] == "refuse"]
    assert [(e["version"], e["reason"]) for e in refusals] == [(int(bad), reason)]
    assert "refused by the service" in events.format_event(refusals[0])


def test_a_new_worker_serves_the_last_good_version_when_production_is_corrupt(
        own_store, publish_tampered, tmp_path):
    first = ModelHolder("california-housing", "production", state_dir=tmp_path / "state")
    assert first.refresh() and first.current.version == "1"
    bad = publish_tampered(own_store, "truncated")
    new_worker = ModelHolder("california-housing", "production",
                             state_dir=tmp_path / "state")
    assert not new_worker.refresh()
    assert new_worker.current is not None and new_worker.current.version == "1"
    assert "BadZipFile" in new_worker.refused[bad] or "zip" in new_worker.refused[bad]
    expected = first.current.predict(ROW)
    assert new_worker.current.predict(ROW) == pytest.approx(expected, abs=1e-12)
    # without the machine's record a new worker has nothing else to serve
    alone = ModelHolder("california-housing", "production", state_dir=None)
    assert not alone.refresh() and alone.current is None
    assert f"version {bad} refused" in alone.last_error
    # the verdict is kept by the artifact's hash; the worker does not try the version again
    [record] = [p.read_text() for p in (tmp_path / "state").glob("artifact-*.json")
                if '"passed": false' in p.read_text()]
    assert "zip" in record.lower()
    assert not first.refresh() and first.current.version == "1" and bad in first.refused
