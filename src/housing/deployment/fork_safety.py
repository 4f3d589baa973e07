"""Database connections that never cross a fork.

gunicorn's master builds the app once (it is preloaded) and forks the workers from it, so
a worker inherits the master's MLflow store, whose SQLAlchemy pool may hold a connection
the master opened to look up the production alias. Two processes on one connection (a
PostgreSQL socket, an SQLite handle) corrupt each other's traffic. SQLAlchemy's own
recipe for pools and ``os.fork`` (its "Using Connection Pools with Multiprocessing"
section): each connection records the process that opened it, and a process that checks
out another's connection drops it, without closing it under its owner, and opens its own.
"""

from __future__ import annotations

import os

_INSTALLED: list[bool] = []


def _opened(dbapi_connection, record) -> None:
    record.info["pid"] = os.getpid()


def _checked_out(dbapi_connection, record, proxy) -> None:
    from sqlalchemy import exc

    owner = record.info.get("pid")
    if owner is not None and owner != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None  # the owner's to close
        raise exc.DisconnectionError(f"connection opened by process {owner}, "
                                     f"checked out by {os.getpid()}")


def fork_safe_connections() -> None:
    """Make every SQLAlchemy pool of this process fork-safe (once; before a connection)."""
    if _INSTALLED:
        return
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    event.listen(Pool, "connect", _opened)
    event.listen(Pool, "checkout", _checked_out)
    _INSTALLED.append(True)
