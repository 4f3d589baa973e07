"""A fuzz run of the request parser: arbitrary JSON at /predict and /invocations gets a
bounded answer and never a 5xx (Hypothesis, derandomized so CI runs the same cases)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from housing.config import FEATURES
from tests.security.conftest import ROW

MAX_ANSWER_BYTES = 40_000

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=6)),
    max_leaves=40)
# Near-valid records: the features with values of any kind, some missing, some extra.
records = st.fixed_dictionaries({}, optional={f: st.one_of(scalars, json_values)
                                              for f in FEATURES}).flatmap(
    lambda r: st.dictionaries(st.text(max_size=10), scalars, max_size=3).map(
        lambda extra: {**extra, **r}))
# The district of ROW with one feature replaced by anything.
mutants = st.sampled_from(FEATURES).flatmap(
    lambda f: st.one_of(scalars, json_values).map(lambda v: {**ROW, f: v}))
bodies = st.one_of(
    json_values, records, st.lists(records, max_size=30), mutants,
    st.lists(st.one_of(mutants, st.just(ROW)), max_size=30),
    st.fixed_dictionaries({"dataframe_records": st.lists(st.one_of(mutants, st.just(ROW)),
                                                         max_size=30)}),
    st.fixed_dictionaries({"dataframe_records": st.lists(records, max_size=30)}),
    st.fixed_dictionaries({"dataframe_split": st.fixed_dictionaries({
        "columns": st.one_of(st.just(list(FEATURES)), st.lists(st.one_of(
            st.sampled_from(FEATURES), st.text(max_size=8), scalars), max_size=12)),
        "data": st.lists(st.lists(scalars, max_size=10), max_size=30)})}),
    st.fixed_dictionaries({"inputs": st.one_of(
        st.lists(records, max_size=10),
        st.dictionaries(st.sampled_from(FEATURES), st.lists(scalars, max_size=10)))}),
    st.fixed_dictionaries({"instances": st.lists(records, max_size=10)}),
)


def test_the_parser_answers_every_body_within_bounds(make_client):
    _, client = make_client(max_batch=5, prediction_log=False)
    statuses: set[int] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(path=st.sampled_from(["/predict", "/invocations"]), body=bodies)
    def check(path, body):
        response = client.post(path, data=json.dumps(body), content_type="application/json")
        assert response.status_code < 500, (body, response.get_data()[:300])
        assert len(response.get_data()) < MAX_ANSWER_BYTES
        statuses.add(response.status_code)
        answer = response.get_json()
        if response.status_code == 200:
            assert "predictions" in answer
        else:
            assert set(answer) == {"error", "details"} and len(answer["details"]) <= 101

    check()
    assert {200, 400, 422} <= statuses  # valid, malformed and invalid bodies all ran
