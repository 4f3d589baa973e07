"""A preloading gunicorn master forks its workers with its registry store's pool: on a
real PostgreSQL, a forked process opens a connection of its own, and the master's
connection still answers afterwards."""

from __future__ import annotations

import os

import pytest

from housing.deployment.fork_safety import fork_safe_connections

POSTGRES = os.environ.get("HOUSING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
BACKEND = "SELECT pg_backend_pid()"


@pytest.fixture
def engine():
    import sqlalchemy

    fork_safe_connections()  # as gunicorn.conf.py: before anything connects
    fork_safe_connections()  # once is enough; twice changes nothing
    url = POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1) + "/postgres"
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        engine.connect().close()
    except sqlalchemy.exc.OperationalError as err:
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {str(err.orig).strip().splitlines()[0]}")
    yield engine
    engine.dispose()


def backend_in_child(engine) -> int:
    """The server process that answers a forked child's first query on ``engine``."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            with engine.connect() as connection:
                os.write(write, str(connection.exec_driver_sql(BACKEND).scalar()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read) as answer:
        text = answer.read()
    assert os.waitstatus_to_exitcode(status) == 0, "the child's query failed"
    return int(text)


def test_a_forked_process_never_uses_the_masters_connection(engine):
    with engine.connect() as connection:  # the master's, now pooled
        master = connection.exec_driver_sql(BACKEND).scalar()
    assert backend_in_child(engine) != master
    assert backend_in_child(engine) != master
    with engine.connect() as connection:  # still the master's, still working
        assert connection.exec_driver_sql(BACKEND).scalar() == master
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
