"""Who may call what: the API key (header ``X-API-Key``, or ``Authorization: Bearer``),
the dashboard's login session, the cross-origin form check, and the bound on wrong keys
per client address.

Every request passes ``authenticate`` first. The open paths (/health, /ready,
/openapi.json, the protocol's /v2 and /v2/health/*, the login page, static files) need no
key; /metrics needs it like the API; a page without a session goes
to the login page; any other path without the key is a 401.
"""

from __future__ import annotations

import collections
import hmac
import re
import time
import uuid
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from housing.deployment.request_body import RequestError
from housing.deployment.sessions import SessionStore
from housing.deployment.settings import Settings

OPEN_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/ui/login", "/v2",
                        "/v2/health/live", "/v2/health/ready"})
STATIC_PREFIX = "/ui/static/"
# A client's X-Request-ID is echoed and logged only when it is short and plain; otherwise
# the service draws one. It never names a record or a batch (data/production.py).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SESSION_KEY = "auth"
SESSION_ID = "sid"

auth = Blueprint("auth", __name__)


def is_page(path: str) -> bool:
    return path == "/" or path.startswith("/ui/")


def key_digest(api_key: str) -> str:
    """What the session cookie holds: proof of the key, never the key (a signed cookie is
    readable by whoever holds it)."""
    return hmac.new(api_key.encode(), b"housing dashboard session", "sha256").hexdigest()


def session_secret(api_key: str) -> bytes:
    """The cookie-signing secret, derived from the API key: the same in every worker, and
    every session ends when the key is rotated."""
    return hmac.new(api_key.encode(), b"housing dashboard cookie signing", "sha256").digest()


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (another host) goes to /."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or not target.isprintable():  # CR/LF would split the header
        return "/"
    return target


def same_origin(req) -> bool:
    """True if a form post comes from this service's own pages: its Origin (or, where a
    browser sends none, its Referer) is this host. SameSite cookies do not cover other
    ports of the same host, such as an MLflow UI beside the service."""
    origin = req.headers.get("Origin") or req.headers.get("Referer")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == req.host


class Attempts:
    """Failed key attempts per client address in a sliding window, in this worker: after
    ``limit`` failures, the address is refused until the window passes. At most
    ``max_clients`` addresses are tracked (the oldest are forgotten), so the memory is
    bounded whatever the clients send."""

    def __init__(self, limit: int = 10, window: float = 60.0, max_clients: int = 10_000):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._failures: collections.OrderedDict[str, list[float]] = collections.OrderedDict()

    def _recent(self, client: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(client, []) if now - t < self.window]
        if times:
            self._failures[client] = times
        else:
            self._failures.pop(client, None)
        return times

    def blocked(self, client: str) -> bool:
        return client in self._failures and \
            len(self._recent(client, time.monotonic())) >= self.limit

    def failed(self, client: str) -> None:
        now = time.monotonic()
        times = self._recent(client, now)
        self._failures[client] = [*times[-self.limit:], now]
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


class Guard:
    """The key, the sessions and the wrong-key counters of one app (one per worker)."""

    def __init__(self, settings: Settings):
        self.api_key = settings.api_key
        directory = settings.session_dir or settings.workspace / "logs"  # git-ignored
        self.sessions = SessionStore(directory / "sessions.db", settings.session_minutes * 60)
        self.attempts = Attempts()

    def key_matches(self, supplied: str) -> bool:
        return hmac.compare_digest(supplied.encode(), (self.api_key or "").encode())

    def refuse_guess(self, client: str) -> None:
        """A wrong key from ``client`` (the address of the trusted proxy hop): 429 once it
        sent too many in the window, else counted. Only failures are ever slowed."""
        if self.attempts.blocked(client):
            raise refuse(429, "too many wrong keys", f"wait {self.attempts.window:.0f} s")
        self.attempts.failed(client)

    def session_valid(self) -> bool:
        """This request's signed cookie proves the current key and names a session the
        server holds (not logged out, not expired)."""
        proof, session_id = session.get(SESSION_KEY), session.get(SESSION_ID)
        return (isinstance(proof, str) and isinstance(session_id, str)
                and hmac.compare_digest(proof, key_digest(self.api_key or ""))
                and self.sessions.valid(session_id))

    def authenticate(self) -> Response | None:
        """Runs before every request: its ids, the origin of form posts, and the key."""
        supplied_id = request.headers.get("X-Request-ID")
        g.record = uuid.uuid4().hex
        g.request_id = supplied_id if supplied_id and REQUEST_ID.fullmatch(supplied_id) \
            else g.record
        g.key_holder = not self.api_key
        path = request.path
        if request.method == "POST" and is_page(path) and not same_origin(request):
            raise refuse(403, "cross-origin form post refused",
                         "the dashboard's forms post from its own pages")
        if not self.api_key or path in OPEN_PATHS or path.startswith(STATIC_PREFIX):
            return None
        supplied = request.headers.get("X-API-Key") or bearer(request.headers)
        if supplied is not None:
            if self.key_matches(supplied):  # the right key always passes
                g.key_holder = True
                return None
            self.refuse_guess(request.remote_addr or "")
        elif self.session_valid():  # the dashboard's session cookie
            return None
        if is_page(path):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), 303)
        raise refuse(401, "missing or wrong API key", "send the key in the X-API-Key header")


def bearer(headers) -> str | None:
    """The key of ``Authorization: Bearer <key>``, the form Prometheus' scrape config
    (``authorization: credentials_file``) and most HTTP clients send; or None."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def guard() -> Guard:
    return current_app.extensions["housing.guard"]


def refuse(status: int, error: str, detail: str) -> RequestError:
    return RequestError(status, error, [{"error": detail}])


@auth.route("/ui/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"))
    keys = guard()
    if not keys.api_key:
        return redirect(target, 303)
    error, status = None, 200
    if request.method == "POST":
        if keys.key_matches(request.form.get("api_key", "")):
            session.clear()
            session.permanent = True  # the cookie ends with the session's lifetime
            session[SESSION_KEY] = key_digest(keys.api_key)
            session[SESSION_ID] = keys.sessions.start()
            return redirect(target, 303)
        client = request.remote_addr or ""
        if keys.attempts.blocked(client):
            error, status = "too many wrong keys: wait a minute", 429
        else:
            keys.attempts.failed(client)
            error, status = "wrong API key", 401
    return render_template("login.html", page="login", error=error, next=target), status


@auth.post("/ui/logout")
def logout():
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        guard().sessions.end(session_id)
    session.clear()
    return redirect(url_for("auth.login"), 303)
