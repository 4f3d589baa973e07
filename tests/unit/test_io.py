"""housing.io: every write is atomic (a failed write leaves the target as it was), has
the asked mode, and JSON reads take a default for a missing file only when asked."""

from __future__ import annotations

import stat

import pytest

from housing.io import atomic_path, read_json, write_bytes, write_json, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    write_text("old", target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_writes_have_the_team_mode_by_default_and_the_asked_mode_otherwise(tmp_path):
    write_text("x", tmp_path / "shared.txt")
    write_bytes(b"x", tmp_path / "private.bin", mode=0o600, durable=True)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.bin").stat().st_mode) == 0o600
    assert (tmp_path / "private.bin").read_bytes() == b"x"


def test_a_write_replaces_a_symlink_rather_than_writing_through_it(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (tmp_path / "link").symlink_to(outside)
    write_bytes(b"new", tmp_path / "link")
    assert outside.read_text() == "keep"
    assert not (tmp_path / "link").is_symlink()


def test_read_json_takes_a_default_only_for_a_missing_file(tmp_path):
    assert read_json(tmp_path / "missing.json", {}) == {}
    assert read_json(tmp_path / "missing.json", None) is None
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")
    write_json({"b": 1, "a": [1.5]}, tmp_path / "there.json")
    assert read_json(tmp_path / "there.json", {}) == {"a": [1.5], "b": 1}
    assert (tmp_path / "there.json").read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError):
        read_json(tmp_path / "bad.json", {})
