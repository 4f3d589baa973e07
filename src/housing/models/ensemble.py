"""The one walk through a fitted regressor of this project: a prediction interval around
a point model (IntervalRegressor), a log target (TransformedTargetRegressor), a blend
(VotingRegressor) and, at the bottom, the tree models. Tune makes the saved model
portable, and the service lists and compiles the tree members, with this same walk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from housing.models.intervals import IntervalRegressor


def fold(regressor, *, leaf: Callable[[Any], Any],
         transformed: Callable[[Any, Any], Any] = lambda regressor, inner: inner,
         blended: Callable[[Any, list], Any] = lambda regressor, parts: parts) -> Any:
    """``leaf(model)`` for each model at the bottom, combined upwards: a log target by
    ``transformed(regressor, inner)``, a blend by ``blended(regressor, parts)``. An
    interval passes its point model's result through (its bounds are its own)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import VotingRegressor

    def walk(node):
        if isinstance(node, IntervalRegressor):
            return walk(node.regressor_)
        if isinstance(node, TransformedTargetRegressor):
            return transformed(node, walk(node.regressor_))
        if isinstance(node, VotingRegressor):
            return blended(node, [walk(member) for member in node.estimators_])
        return leaf(node)

    return walk(regressor)


def tree_members(regressor) -> list:
    """The models at the bottom of ``regressor`` (blend members, log-target insides)."""
    return fold(regressor, leaf=lambda model: [model],
                blended=lambda _, parts: [m for part in parts for m in part])
