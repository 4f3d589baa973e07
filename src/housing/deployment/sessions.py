"""The dashboard's sessions, held by the server so that logging out ends one for good.

A login draws a random session id, stores its hash with an expiry in a small SQLite
file that every worker shares, and puts the id in the signed cookie. A page is served
only while the id is in the store and unexpired: logout deletes it (a copied cookie is
then worthless), a rotated API key ends every session (the cookie's signature derives
from the key), and ``HOUSING_SESSION_MINUTES`` bounds each one. The store keeps only
hashes, so reading it gives no session away.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from pathlib import Path


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Session ids with expiry, in ``path`` (created private to this user)."""

    def __init__(self, path: Path, lifetime_seconds: float):
        self.path, self.lifetime = Path(path), lifetime_seconds

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5, isolation_level=None)

    def start(self) -> str:
        """A new session id, valid for the lifetime; expired ones are dropped. The store
        is created here, private to this user (a page view only reads it)."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS sessions "
                         "(id TEXT PRIMARY KEY, expires REAL NOT NULL)")
            os.chmod(self.path, 0o600)
            conn.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            conn.execute("INSERT INTO sessions VALUES (?, ?)",
                         (_hash(session_id), now + self.lifetime))
        return session_id

    def valid(self, session_id: str) -> bool:
        if not self.path.exists():
            return False
        with self._connect() as conn:
            row = conn.execute("SELECT expires FROM sessions WHERE id = ?",
                               (_hash(session_id),)).fetchone()
        return row is not None and row[0] >= time.time()

    def end(self, session_id: str) -> None:
        if not self.path.exists():
            return
        with self._connect() as conn:
            conn.execute("DELETE FROM sessions WHERE id = ?", (_hash(session_id),))
