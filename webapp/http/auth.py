"""API keys: with one configured (--api-key) or stored (`python -m tools.keys`), every route needs a key
unless it is on the OPEN list, and a stored key only the routes its scopes allow (webapp/http/scopes.py).

Default deny: the check runs before every request, over the endpoint Flask routed it to, so a route
added later is guarded (and needs `admin`) unless someone opens it or gives it a scope on purpose
(create_app refuses an OPEN name that names no route). The key comes in the X-API-Key header, a header no
other site's page can make a browser send. --api-key is one admin key, not stored and not rate-limited
beyond the model routes' limits; a stored key is rate-limited on every request (its --rate). No key,
known or not, is ever logged: a stored key is named by its public id.

Answers: 401 with `needs_key` for no key, an unknown or a revoked one; 403 with `needs_scope` for a key
that lacks the scope; 429 with Retry-After when a stored key went past its rate.

An <img> cannot send a header, so a page buys a viewer cookie with a key that may `read` (POST
/auth/viewer): short-lived, signed, bound to the key that bought it (a revoked key's cookies open
nothing), and good only for GET/HEAD of the routes in VIEWABLE (the stream, album photos), never for a
change or a JSON read.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from dataclasses import dataclass
from types import MappingProxyType
from typing import Optional

from flask import Blueprint, Flask, g, jsonify, request

from recognition.store.api_keys import KeyRecord
from webapp.current import parts
from webapp.http import scopes
from webapp.http.errors import ApiError
from webapp.http.sessions import now

log = logging.getLogger(__name__)

HEADER = "X-API-Key"
VIEWER_COOKIE = "faceapp_viewer"
VIEWER_SECONDS = 600  # a viewer cookie's life; the pages renew it at half that while they are open

# What anyone may call with a key set, and why. The pages' HTML shells hold no data (their scripts fetch
# it with the key); the sign-in routes are for people signing themselves in, each checked by their own
# session, challenge and rate limits.
OPEN = MappingProxyType({
    "live.index": "the live page's shell: the stream and the lists are fetched with the key",
    "people.page": "the people page's shell",
    "albums.page": "the albums page's shell (album names come from the guarded GET /album)",
    "signin.signup_page": "the sign-up page",
    "signin.signin_page": "the sign-in page",
    "signin.challenge": "the liveness challenge a person is asked (rate limited per client)",
    "signin.look": "framing hints for a person's own camera (rate limited per client)",
    "signin.signin": "signing in with a face that passed the challenge (rate limited, failures counted)",
    "signin.signout": "ends this browser's session",
    "signin.me_page": "the signed-in person's own page, by their session",
    "signin.delete_me": "erasing oneself, by one's own session",
    "health.health": "is the server up: says nothing about people",
    "openapi.openapi_json": "the API's description",
    "static": "the pages' scripts and style sheet",
})
PUBLIC_SIGNUP = "signin.signup"  # open too with --public-signup: sign-up without the key that deletes people
# The pictures shown in <img>s: the viewer cookie opens their GET and HEAD, nothing else.
VIEWABLE = frozenset({"live.streaming", "cameras.snapshot", "albums.photo", "albums.frame"})

bp = Blueprint("auth", __name__)


def install(app: Flask) -> None:
    """Guard every request of app; refuse an OPEN entry that names no route (a typo would close it)."""
    missing = sorted(name for name in {*OPEN, PUBLIC_SIGNUP, *VIEWABLE} if name not in app.view_functions)
    if missing:
        raise RuntimeError(f"webapp.http.auth names endpoints the app does not have: {missing}")
    scopes.check(app)
    app.before_request(guard)


@dataclass(frozen=True)
class Caller:
    """Whose key a request came with: the --api-key (record None: admin), or a stored key's record."""

    record: Optional[KeyRecord] = None

    @property
    def name(self) -> str:
        """How logs and rate limits name the key: never the key itself."""
        return f"key {self.record.id}" if self.record is not None else "the --api-key"

    def allows(self, scope: str) -> bool:
        return self.record is None or self.record.allows(scope)


def is_open(endpoint: Optional[str]) -> bool:
    """Whether anyone may call this endpoint on this server, key or not."""
    return endpoint in OPEN or (endpoint == PUBLIC_SIGNUP and parts().public_signup)


def guarding() -> bool:
    """Whether this server needs keys: one was given (--api-key) or ever stored (tools.keys), now."""
    svc = parts()
    return bool(svc.api_key) or (svc.keyring is not None and svc.keyring.present())


def guard() -> None:
    """401 for a request to a guarded route without a valid key (or, for a picture, a valid viewer cookie);
    429 for a stored key past its rate; 403 for a key without the scope the route needs."""
    if not guarding():
        return
    endpoint = request.endpoint
    if endpoint is None or is_open(endpoint):  # no such route (404, 405): nothing to guard
        return
    caller = current_caller()
    if caller is None:
        if request.method in ("GET", "HEAD") and endpoint in VIEWABLE and viewer_allowed():
            return
        given = request.headers.get(HEADER, "")
        raise ApiError(401, f"this needs an API key in the {HEADER} header"
                       + (" (the one given is unknown or revoked)" if given else ""), needs_key=True)
    keyring = parts().keyring
    if caller.record is not None and keyring is not None:
        wait = keyring.admit(caller.record)
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            log.info("request refused for %s s: %s went past its rate", seconds, caller.name)
            raise ApiError(429, f"too many requests with this key: try again in {seconds} s",
                           headers={"Retry-After": str(seconds)}, retry_after=seconds)
    needed = scopes.needed(endpoint)
    if not caller.allows(needed):
        raise ApiError(403, f"this needs a key with the '{needed}' scope; {caller.name} has "
                            f"{', '.join(caller.record.scopes) if caller.record else 'admin'}", needs_scope=needed)


def current_caller() -> Optional[Caller]:
    """Whose key this request carries in X-API-Key: the --api-key's, an active stored key's, or None."""
    if "faceapp_caller" in g:
        return g.faceapp_caller
    svc, given = parts(), request.headers.get(HEADER, "")
    caller = None
    if given and svc.api_key and hmac.compare_digest(given.encode(), svc.api_key.encode()):
        caller = Caller()
    elif given and svc.keyring is not None:
        record = svc.keyring.find(given)
        caller = Caller(record) if record is not None else None
    g.faceapp_caller = caller
    return caller


def given_key() -> Optional[str]:
    """A name for the key this request carries (never the key itself), for per-key limits; None without one."""
    caller = current_caller()
    return caller.name if caller is not None else None


def has_key() -> bool:
    """Whether this request may see what only key holders see (always, when the server needs no key)."""
    return not guarding() or current_caller() is not None


def requires_key(view):
    """Refuse the request with 401 unless it carries a valid key (when the server needs one): a change,
    never opened by the viewer cookie (the app-wide guard says the same, and checks the scope; this keeps
    it said at the route)."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not has_key():
            given = request.headers.get(HEADER, "")
            raise ApiError(401, f"this change needs an API key in the {HEADER} header"
                           + (" (the one given is unknown or revoked)" if given else ""), needs_key=True)
        return view(*args, **kwargs)

    return checked


def _viewer_mac(expires: int, record: Optional[KeyRecord]) -> str:
    # Keyed by the signing secret and the key that bought it (the --api-key itself, or a stored key's id
    # and hash): a changed --api-key voids every cookie it bought, and a stored key's cookies are checked
    # against its record, so revoking it voids them.
    svc = parts()
    bound = (svc.api_key or "").encode() if record is None else f"{record.id}:{record.digest}".encode()
    key = hmac.new(svc.signing_secret, b"faceapp viewer cookie\0" + bound, hashlib.sha256).digest()
    return hmac.new(key, str(expires).encode(), hashlib.sha256).hexdigest()


def viewer_token(expires: int, record: Optional[KeyRecord] = None) -> str:
    """A viewer cookie's value, good until the unix time expires: `expires.mac` when bought with the
    --api-key, `expires.id.mac` with a stored key."""
    return ".".join([str(expires), *([record.id] if record is not None else []), _viewer_mac(expires, record)])


def viewer_allowed() -> bool:
    fields = request.cookies.get(VIEWER_COOKIE, "").split(".")
    if len(fields) not in (2, 3):
        return False
    expires, mac = fields[0], fields[-1]
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12) or int(expires) <= now():
        return False
    record = None
    if len(fields) == 3:
        keyring = parts().keyring
        record = keyring.get(fields[1]) if keyring is not None else None
        if record is None or not record.active or not record.allows("read"):
            return False
    elif not parts().api_key:
        return False
    return hmac.compare_digest(mac.encode(), _viewer_mac(int(expires), record).encode())


@bp.post("/auth/viewer")
def buy_viewer_cookie():
    """With a key that may `read` in X-API-Key (checked by the guard), a cookie bound to that key that lets
    this browser's <img>s show the stream and album photos for VIEWER_SECONDS; HttpOnly, SameSite=Strict,
    Secure over HTTPS."""
    expires = int(now()) + VIEWER_SECONDS
    caller = current_caller()
    token = viewer_token(expires, caller.record if caller is not None else None)
    response = jsonify({"expires_in": VIEWER_SECONDS})
    response.set_cookie(VIEWER_COOKIE, token, max_age=VIEWER_SECONDS, path="/", httponly=True, samesite="Strict",
                        secure=request.is_secure)
    response.headers["Cache-Control"] = "no-store"
    return response
