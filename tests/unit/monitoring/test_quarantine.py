"""The gate file's quarantine lists and the operator's release and drop."""

import json

import pytest

from housing.monitoring import quarantine

ENTRY = {"batch": "b1", "rows": 1000, "md5": "f" * 32, "findings": ["Population: ..."],
         "outside_share": 0.99}


def test_a_gate_without_quarantine_keeps_its_file(tmp_path):
    path = tmp_path / "accepted_batches.json"
    path.write_text(json.dumps({"batches": []}))
    gate = quarantine.read_gate(path)
    quarantine.write_gate(gate, path)
    assert json.loads(path.read_text()) == {"batches": []}


def test_release_then_drop_say_what_they_did(tmp_path):
    gate = quarantine.Gate(quarantined=[ENTRY])
    released, said = quarantine.release(gate, "b1")
    assert released.quarantined == [] and released.released[0]["md5"] == ENTRY["md5"]
    assert "released batch 'b1' (1000 rows)" in said
    dropped, said = quarantine.drop(released, "b1")
    assert dropped.released == [] and dropped.dropped[0]["batch"] == "b1"
    assert "dropped batch 'b1'" in said and "never" in said
    path = tmp_path / "gate.json"
    quarantine.write_gate(dropped, path)
    assert quarantine.read_gate(path) == dropped
    assert quarantine.describe(dropped)[0] == "dropped: b1 (1000 rows)"


def test_an_unknown_batch_is_refused_by_name():
    with pytest.raises(ValueError, match="'nope' is not quarantined; quarantined: b1"):
        quarantine.release(quarantine.Gate(quarantined=[ENTRY]), "nope")
    with pytest.raises(ValueError, match="neither quarantined nor released"):
        quarantine.drop(quarantine.Gate(), "b1")
