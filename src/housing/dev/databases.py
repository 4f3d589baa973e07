"""The team stack's PostgreSQL side: its two databases (MLflow's and Optuna's) and Optuna's
own role, created, listed and dropped through the admin URL (``housing stack``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from housing.connections import redact_url

if TYPE_CHECKING:
    from housing.dev.stack import Stack

logger = logging.getLogger(__name__)


def _admin_connect(stack: Stack):
    import psycopg

    from housing.connections import CONNECT_TIMEOUT_SECONDS, StoreError

    url = stack.postgres.replace("postgresql+psycopg://", "postgresql://")
    try:
        return psycopg.connect(f"{url.rstrip('/')}/postgres", autocommit=True,
                               connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.OperationalError as err:
        raise StoreError(f"PostgreSQL at {redact_url(stack.postgres)} is unreachable: "
                         f"{redact_url(str(err).strip().splitlines()[0])}") from None


def databases(stack: Stack) -> dict[str, bool]:
    """Whether each of the stack's databases exists."""
    with _admin_connect(stack) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    return {name: f"{stack.prefix}_{name}" in names for name in ("mlflow", "optuna")}


def create_databases(stack: Stack) -> None:
    """The two databases, and Optuna's role as the owner of its own."""
    from psycopg import sql

    missing = [name for name, exists in databases(stack).items() if not exists]
    role = sql.Identifier(stack.optuna_role)
    password = stack.optuna_password
    with _admin_connect(stack) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              (stack.optuna_role,)).fetchone()
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}" if exists
                             else "CREATE ROLE {} LOGIN PASSWORD {}").format(
            role, sql.Literal(password) if password else sql.SQL("NULL")))
        for name in missing:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(
                sql.Identifier(f"{stack.prefix}_{name}")))
            logger.info("created database %s_%s", stack.prefix, name)
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(f"{stack.prefix}_optuna"), role))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(f"{stack.prefix}_optuna")))


def drop_databases(stack: Stack) -> None:
    from psycopg import sql

    with _admin_connect(stack) as conn:
        for name in ("mlflow", "optuna"):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(f"{stack.prefix}_{name}")))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
            sql.Identifier(stack.optuna_role)))
