"""The API key: with one configured (--api-key), every route needs it unless it is on the OPEN list.

Default deny: the check runs before every request, over the endpoint Flask routed it to, so a route
added later is guarded unless someone opens it here on purpose (create_app refuses an OPEN name that
names no route). The key comes in the X-API-Key header, a header no other site's page can make a
browser send. An <img> cannot send a header, so a page buys a viewer cookie with the key
(POST /auth/viewer): short-lived, signed, bound to the key, and good only for GET/HEAD of the routes in
VIEWABLE (the stream, album photos), never for a change or a JSON read.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
from types import MappingProxyType
from typing import Optional

from flask import Blueprint, Flask, jsonify, request

from webapp.current import parts
from webapp.http.errors import ApiError
from webapp.http.sessions import now

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
VIEWABLE = frozenset({"live.streaming", "cameras.snapshot", "albums.photo"})

bp = Blueprint("auth", __name__)


def install(app: Flask) -> None:
    """Guard every request of app; refuse an OPEN entry that names no route (a typo would close it)."""
    missing = sorted(name for name in {*OPEN, PUBLIC_SIGNUP, *VIEWABLE} if name not in app.view_functions)
    if missing:
        raise RuntimeError(f"webapp.http.auth names endpoints the app does not have: {missing}")
    app.before_request(guard)


def is_open(endpoint: Optional[str]) -> bool:
    """Whether anyone may call this endpoint on this server, key or not."""
    return endpoint in OPEN or (endpoint == PUBLIC_SIGNUP and parts().public_signup)


def guard() -> None:
    """401 for a request to a guarded route without the key (or, for a picture, a valid viewer cookie)."""
    if not parts().api_key:
        return
    endpoint = request.endpoint
    if endpoint is None or is_open(endpoint):  # no such route (404, 405): nothing to guard
        return
    if given_key() is not None:
        return
    if request.method in ("GET", "HEAD") and endpoint in VIEWABLE and viewer_allowed():
        return
    given = request.headers.get(HEADER, "")
    raise ApiError(401, f"this needs the API key in the {HEADER} header"
                   + (" (the one given is wrong)" if given else ""), needs_key=True)


def given_key() -> Optional[str]:
    """The configured key when this request carries it in X-API-Key; None otherwise (or with no key set)."""
    expected = parts().api_key
    if expected and hmac.compare_digest(request.headers.get(HEADER, "").encode(), expected.encode()):
        return expected
    return None


def has_key() -> bool:
    """Whether this request may see what only key holders see (always, when no key is configured)."""
    return not parts().api_key or given_key() is not None


def requires_key(view):
    """Refuse the request with 401 unless the configured key (if any) is in X-API-Key: a change, never
    opened by the viewer cookie (the app-wide guard says the same; this keeps it said at the route)."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not has_key():
            given = request.headers.get(HEADER, "")
            raise ApiError(401, f"this change needs the API key in the {HEADER} header"
                           + (" (the one given is wrong)" if given else ""), needs_key=True)
        return view(*args, **kwargs)

    return checked


def _viewer_mac(expires: int) -> str:
    # Keyed by the signing secret and the API key itself: a changed key voids every cookie it bought.
    svc = parts()
    key = hmac.new(svc.signing_secret, b"faceapp viewer cookie\0" + (svc.api_key or "").encode(),
                   hashlib.sha256).digest()
    return hmac.new(key, str(expires).encode(), hashlib.sha256).hexdigest()


def viewer_token(expires: int) -> str:
    """A viewer cookie's value, good until the unix time expires."""
    return f"{expires}.{_viewer_mac(expires)}"


def viewer_allowed() -> bool:
    expires, _, mac = request.cookies.get(VIEWER_COOKIE, "").partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12) or int(expires) <= now():
        return False
    return hmac.compare_digest(mac.encode(), _viewer_mac(int(expires)).encode())


@bp.post("/auth/viewer")
def buy_viewer_cookie():
    """With the key in X-API-Key (checked by the guard), a cookie that lets this browser's <img>s show
    the stream and album photos for VIEWER_SECONDS; HttpOnly, SameSite=Strict, Secure over HTTPS."""
    expires = int(now()) + VIEWER_SECONDS
    response = jsonify({"expires_in": VIEWER_SECONDS})
    response.set_cookie(VIEWER_COOKIE, viewer_token(expires), max_age=VIEWER_SECONDS, path="/", httponly=True,
                        samesite="Strict", secure=request.is_secure)
    response.headers["Cache-Control"] = "no-store"
    return response
