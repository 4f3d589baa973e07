"""A worker links only lleaves libraries that pass every check: a foreign file, a file of
another user, a directory others can write to, a link and a truncated library are each
refused with a log line naming why, while the version serves its Pipeline."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from housing.config import FEATURES
from housing.deployment.predict import compiled, tree_text
from housing.deployment.predict import trees as native_trees
from housing.deployment.predict.compiled import compile_pipeline
from housing.deployment.predict.prepare import cached_native
from housing.models.ensemble import tree_members


@pytest.fixture(scope="module")
def model(build_small_model, housing_frame):
    return build_small_model(housing_frame.sample(n=1500, random_state=3), max_iter=30)


@pytest.fixture(scope="module")
def member_text(model) -> str:
    return tree_text.member_text(tree_members(model[-1])[0])


@pytest.fixture
def cache(tmp_path, member_text) -> tuple[Path, Path]:
    """A private cache holding this member's library, built as the service builds it."""
    directory = tmp_path / "trees"
    library = native_trees.ensure_library(member_text, directory)
    return directory, library


def served_trees(model, directory: Path, housing_frame) -> tuple[str, ...]:
    rows = housing_frame[list(FEATURES)].to_numpy()[:64]
    served = compile_pipeline(model, rows, cached_native(directory))
    np.testing.assert_allclose(served(rows), model.predict(housing_frame[list(FEATURES)][:64]),
                               rtol=0, atol=compiled.TOLERANCE)
    return served.trees


def test_a_verified_library_is_served(model, cache, housing_frame):
    assert served_trees(model, cache[0], housing_frame) == ("lleaves",)


def refused(caplog, model, directory, housing_frame, reason: str) -> None:
    with caplog.at_level(logging.WARNING, logger="housing.deployment.served_model"):
        assert served_trees(model, directory, housing_frame) == ()
    messages = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert messages and reason in messages[-1], messages


def test_a_foreign_file_in_place_of_the_library_is_refused(model, cache, housing_frame,
                                                            caplog):
    directory, library = cache
    library.write_bytes(b"\x7fELF" + os.urandom(4096))  # planted: the digest does not match
    refused(caplog, model, directory, housing_frame, "does not match the digest")


def test_a_library_without_a_recorded_digest_is_refused(model, cache, housing_frame, caplog):
    directory, library = cache
    native_trees.digest_path(library).unlink()
    refused(caplog, model, directory, housing_frame, "no digest recorded")


def test_a_truncated_library_is_refused(model, cache, housing_frame, caplog):
    directory, library = cache
    data = library.read_bytes()
    library.write_bytes(data[: len(data) // 2])
    refused(caplog, model, directory, housing_frame, "does not match the digest")


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_library_owned_by_another_user_is_refused(model, cache, housing_frame, caplog):
    directory, library = cache
    os.chown(library, 65534, 65534)
    refused(caplog, model, directory, housing_frame, "owned by uid 65534")


def test_a_library_others_can_write_is_refused(model, cache, housing_frame, caplog):
    directory, library = cache
    library.chmod(0o666)
    refused(caplog, model, directory, housing_frame, "writable by")


def test_a_world_writable_cache_directory_is_refused(model, cache, housing_frame, caplog):
    directory, _ = cache
    directory.chmod(0o777)
    refused(caplog, model, directory, housing_frame, "writable by others")


def test_a_cache_under_a_directory_others_can_write_is_refused(model, tmp_path, member_text,
                                                                housing_frame, caplog):
    shared = tmp_path / "shared"
    shared.mkdir()
    directory = shared / "trees"
    native_trees.ensure_library(member_text, directory)
    shared.chmod(0o777)  # anyone could swap `trees` for a directory of their own
    refused(caplog, model, directory, housing_frame, f"lies under {shared}")


def test_a_library_that_is_a_link_is_refused(model, cache, housing_frame, caplog, tmp_path):
    directory, library = cache
    elsewhere = tmp_path / "elsewhere.o"
    elsewhere.write_bytes(library.read_bytes())
    library.unlink()
    library.symlink_to(elsewhere)
    refused(caplog, model, directory, housing_frame, "cannot be opened safely")


def test_a_cache_directory_that_is_a_link_is_refused(model, cache, housing_frame, caplog,
                                                      tmp_path):
    directory, _ = cache
    link = tmp_path / "link"
    link.symlink_to(directory)
    refused(caplog, model, link, housing_frame, "not a directory")


def test_the_builder_replaces_a_refused_library(cache, member_text):
    directory, library = cache
    library.write_bytes(b"planted")
    with pytest.raises(tree_text.NativeUnavailable, match="does not match"):
        native_trees.read_verified(directory, member_text)
    native_trees.ensure_library(member_text, directory)
    assert native_trees.read_verified(directory, member_text) == library.read_bytes()
    assert library.stat().st_mode & 0o077 == 0


def test_loading_never_compiles_nor_writes_the_cache(model, tmp_path, housing_frame):
    directory = tmp_path / "trees"
    directory.mkdir(mode=0o700)
    assert served_trees(model, directory, housing_frame) == ()
    assert list(directory.iterdir()) == []
