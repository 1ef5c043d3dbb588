"""Who is signed in on the pages: a signed cookie, and nothing kept on the server beyond the store.

The cookie holds the identity hash, when the sign-in happened and a random session id, signed with a
key derived from the store key (webapp.parts.signing_secret: outside the data dir, so neither a copied
cookie can be altered nor a copy of the data dir forge one; one from another installation is refused;
a key rotation ends every session). It is HttpOnly (no script reads it), SameSite=Lax (other sites'
forms and scripts do not send it), Secure whenever the request came over HTTPS, and expires after the
configured hours. It ends early when its person is deleted (every request looks the identity up in the
store) and when it is signed out: sign-out spends its session id in the store's spent ledger until the
cookie would have expired, so a copy of the cookie taken before opens nothing afterwards, on any server
of the installation.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import TimestampSigner

from recognition.store.identity import Identity
from webapp.current import parts

COOKIE = "faceapp_session"
Clock = Callable[[], float]  # unix time now, in seconds
# The app.config key of the clock sessions and viewer cookies read: time.time, or a manual clock in tests
# (a session's expiry is then tested without sleeping through it).
CLOCK = "FACEAPP_CLOCK"


def now() -> float:
    """Unix time by the app's clock."""
    return current_app.config.get(CLOCK, time.time)()


@functools.lru_cache(maxsize=8)  # one class per clock, not one per request (the GC is frozen in run.py)
def _signer_on(clock: Clock) -> type[TimestampSigner]:
    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:  # the signature's timestamp and its age check
            return int(clock())

    return ClockedSigner


class IdentityCookies(SecureCookieSessionInterface):
    """Flask's signed cookie on the app's clock: the signature's age and the cookie's expiry too."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)

    def get_signing_serializer(self, app: Flask):
        serializer = super().get_signing_serializer(app)
        if serializer is not None:
            serializer.signer = _signer_on(app.config.get(CLOCK, time.time))
        return serializer

    def get_expiration_time(self, app: Flask, session) -> Optional[datetime]:
        if not session.permanent:
            return None
        return datetime.fromtimestamp(app.config.get(CLOCK, time.time)(), timezone.utc) + app.permanent_session_lifetime


def configure(app: Flask, secret: bytes, hours: float, clock: Clock = time.time) -> None:
    app.config[CLOCK] = clock
    app.secret_key = hmac.new(secret, b"faceapp session cookie", hashlib.sha256).digest()
    app.session_interface = IdentityCookies()
    # The cookie is not renewed by each request: a session ends hours after the sign-in, used or not.
    app.config.update(SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=hours), SESSION_REFRESH_EACH_REQUEST=False)


def start(identity: Identity) -> None:
    if session.get("sid"):  # signing in again over a session: the old cookie's copies end with it
        end()
    session.clear()
    session.permanent = True  # the cookie gets an expiry, and the signature's age is checked against it
    session["identity"] = identity.hash
    session["since"] = now()
    session["sid"] = secrets.token_urlsafe(16)


def end() -> None:
    """Sign this browser out, and revoke its session wherever a copy of the cookie is shown."""
    sid, since = session.get("sid"), session.get("since")
    if isinstance(sid, str) and isinstance(since, (int, float)) and since + _lifetime() > now():
        parts().store.spend(_tag(sid), since + _lifetime())  # an expired one is refused anyway
    session.clear()


def signed_in() -> Optional[Identity]:
    """The person signed in on this browser, or None (never signed in, expired, signed out, or deleted since)."""
    identity_hash, since, sid = session.get("identity"), session.get("since"), session.get("sid")
    if not isinstance(identity_hash, str) or not isinstance(since, (int, float)) or not isinstance(sid, str):
        return None
    if now() - since > _lifetime():
        session.clear()  # the cookie's own signature expires too; this holds even if it were kept
        return None
    store = parts().store
    if store.is_spent(_tag(sid)):
        session.clear()
        return None
    identity = store.get(identity_hash)
    if identity is None:
        session.clear()
    return identity


def _tag(sid: str) -> bytes:
    return b"session:" + sid.encode()


def _lifetime() -> float:
    return current_app.permanent_session_lifetime.total_seconds()
