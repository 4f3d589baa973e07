"""LightGBM's text model, checked field by field before LightGBM's parser reads it.

LightGBM's C++ loader trusts its input: a linear tree asking for fifty million leaf
features, or a ``tree_sizes`` header that points into the middle of a tree, crashes the
process that loads it (a segmentation fault or an abort, not an exception). So the text a
version carries is read here first, and refused unless it has exactly the shape this
project's models are written in:

- the header: known keys only, one class, ``tree_sizes`` that end each tree where the next
  one starts (LightGBM parses the trees in parallel from those offsets);
- each tree: known keys only, ``is_linear=0``, no categorical splits (``num_cat=0`` and no
  categorical bit in ``decision_type``), every array of the length its leaf count implies,
  split features within the model's features, children that point forward to a split or to
  an existing leaf, numbers where numbers belong;
- after the trees: feature importances, plain ``[key: value]`` parameters and
  ``pandas_categorical:null``, nothing else.
"""

from __future__ import annotations

import re

import numpy as np

HEADER_KEYS = frozenset({"version", "num_class", "num_tree_per_iteration", "label_index",
                         "max_feature_idx", "objective", "feature_names", "feature_infos",
                         "tree_sizes", "monotone_constraints"})
SPLIT_KEYS = ("split_feature", "split_gain", "threshold", "decision_type", "left_child",
              "right_child", "internal_value", "internal_weight", "internal_count")
LEAF_KEYS = ("leaf_value", "leaf_weight", "leaf_count")
TREE_KEYS = frozenset({"Tree", "num_leaves", "num_cat", "is_linear", "shrinkage",
                       *SPLIT_KEYS, *LEAF_KEYS})
MAX_LEAVES = 1 << 17
MAX_TREES = 100_000
_TAIL_LINE = re.compile(r"(|feature_importances:|parameters:|end of parameters|"
                        r"pandas_categorical:null|[A-Za-z0-9_]{1,200}=[0-9]{1,12}|"
                        r"\[[a-z0-9_]{1,64}: [^\[\]\x00-\x1f]{0,512}\])")


class UnsafeText(ValueError):
    """A LightGBM text model outside the shape this project writes."""


def _fields(lines: list[str], known: frozenset[str], what: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or key not in known or key in fields:
            raise UnsafeText(f"{what}: unexpected line {line[:40]!r}")
        fields[key] = value
    return fields


def _numbers(fields: dict[str, str], key: str, count: int, dtype, what: str) -> np.ndarray:
    raw = fields.get(key, "")
    try:
        values = np.array(raw.split(), dtype=dtype) if raw else np.zeros(0, dtype)
    except (ValueError, OverflowError):
        raise UnsafeText(f"{what}: {key} holds something else than numbers") from None
    if len(values) != count:
        raise UnsafeText(f"{what}: {count} values expected in {key}, got {len(values)}")
    return values


def _int(fields: dict[str, str], key: str, what: str) -> int:
    try:
        return int(fields[key])
    except (KeyError, ValueError):
        raise UnsafeText(f"{what}: {key} missing or not an integer") from None


def check_tree(lines: list[str], n_features: int, what: str) -> None:
    """One tree block (its lines, ``Tree=`` first)."""
    tree = _fields(lines, TREE_KEYS, what)
    leaves, linear, categorical = (_int(tree, k, what)
                                   for k in ("num_leaves", "is_linear", "num_cat"))
    if not 1 <= leaves <= MAX_LEAVES:
        raise UnsafeText(f"{what}: {leaves} leaves")
    if linear != 0 or categorical != 0:
        raise UnsafeText(f"{what}: linear trees or categorical splits (this project trains "
                         "neither)")
    splits = leaves - 1
    for key in SPLIT_KEYS:  # absent or empty only where the tree has no split
        if key in tree or splits:
            _numbers(tree, key, splits, float, what)
    for key in LEAF_KEYS:
        if key in tree or key == "leaf_value":
            _numbers(tree, key, leaves, float, what)
    feature = _numbers(tree, "split_feature", splits, np.int64, what)
    if np.any(feature < 0) or np.any(feature >= n_features):
        raise UnsafeText(f"{what}: a split feature index is outside the features")
    decision = _numbers(tree, "decision_type", splits, np.int64, what)
    if np.any(decision < 0) or np.any(decision > 15) or np.any(decision & 1):
        raise UnsafeText(f"{what}: a categorical or unknown decision type")
    node = np.arange(splits)
    for key in ("left_child", "right_child"):
        child = _numbers(tree, key, splits, np.int64, what)
        to_split, to_leaf = child >= 0, child < 0
        if np.any(child[to_split] <= node[to_split]) or np.any(child >= splits) \
                or np.any(~child[to_leaf] >= leaves):
            raise UnsafeText(f"{what}: a {key} index points outside the tree")
    threshold = _numbers(tree, "threshold", splits, float, what)
    value = _numbers(tree, "leaf_value", leaves, float, what)
    if np.isnan(threshold).any() or not np.all(np.isfinite(value)):
        raise UnsafeText(f"{what}: a threshold or leaf value is not a number")


def _check_sizes(starts: list[int], end: int, sizes: str) -> None:
    """``tree_sizes``: tree i spans exactly from its ``Tree=`` line to the next one."""
    try:
        declared = [int(s) for s in sizes.split()]
    except ValueError:
        raise UnsafeText("tree_sizes holds something else than integers") from None
    actual = [b - a for a, b in zip(starts, [*starts[1:], end], strict=True)]
    if declared != actual:
        raise UnsafeText(f"tree_sizes does not match the trees ({len(declared)} sizes for "
                         f"{len(actual)} trees, or an offset that is not a tree's start)")


def check_text(text: str, n_features: int) -> None:
    """The whole model text (see the module docstring); UnsafeText names the problem."""
    if not text.isascii():
        raise UnsafeText("the model text is not ASCII")
    data = text.encode()
    body_at = data.find(b"\nTree=")
    end = data.find(b"\nend of trees\n")
    if not text.startswith("tree\n") or body_at < 0 or end < body_at:
        raise UnsafeText("not a LightGBM text model with trees")
    header = _fields([ln for ln in text[5:body_at].split("\n") if ln], HEADER_KEYS,
                     "the header")
    for key, expected in (("num_class", 1), ("num_tree_per_iteration", 1),
                          ("max_feature_idx", n_features - 1)):
        if _int(header, key, "the header") != expected:
            raise UnsafeText(f"the header: {key} is not {expected}")
    starts = [m.start() + 1 for m in re.finditer(rb"\nTree=", data[:end + 1])]
    if not 0 < len(starts) <= MAX_TREES:
        raise UnsafeText(f"{len(starts)} trees")
    for i, (a, b) in enumerate(zip(starts, [*starts[1:], end + 1], strict=True)):
        lines = [ln for ln in data[a:b].decode().split("\n") if ln]
        if lines[0] != f"Tree={i}":
            raise UnsafeText(f"tree {i}: starts with {lines[0][:20]!r}")
        check_tree(lines, n_features, f"tree {i}")
    _check_sizes(starts, end + 1, header.get("tree_sizes", ""))
    tail = text[end + 1:].split("\n")  # "end of trees" first
    bad = next((ln for ln in tail[1:] if not _TAIL_LINE.fullmatch(ln)), None)
    if bad is not None:
        raise UnsafeText(f"after the trees: unexpected line {str(bad)[:40]!r}")
