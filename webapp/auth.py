"""The API key: with one configured, every request that changes the store must carry it in X-API-Key."""
from __future__ import annotations

import functools
import hmac

from flask import request

from webapp.errors import ApiError
from webapp.services import services

HEADER = "X-API-Key"


def has_key() -> bool:
    """Whether this request may see what only key holders see (always, when no key is configured)."""
    expected = services().api_key
    return not expected or hmac.compare_digest(request.headers.get(HEADER, "").encode(), expected.encode())


def requires_key(view):
    """Refuse the request with 401 unless the configured key (if any) is in X-API-Key."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        expected = services().api_key
        if expected:
            given = request.headers.get(HEADER, "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise ApiError(401, f"this change needs the API key in the {HEADER} header"
                               + (" (the one given is wrong)" if given else ""), needs_key=True)
        return view(*args, **kwargs)

    return checked
