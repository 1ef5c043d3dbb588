"""The HTTP edge: which requests reach the routes at all, and what every answer tells the browser.

A browser on the server's own machine (or network) is the attacker's way in: any page it opens can send
simple requests (form posts, multipart, images, no-cors fetches) to this server without a CORS
preflight, and a name the attacker controls can be pointed at 127.0.0.1 (DNS rebinding). So:

- **Host**: a request must name this server: a loopback name, the address it listens on, or a name
  given with --allowed-hosts. Anything else gets 421. On a wildcard address (0.0.0.0, ::) any IP
  literal is taken too: a rebinding attack needs a name the attacker's DNS answers for, and a Host
  that is an address was typed as that address.
- **Origin**: a request that carries another origin's Origin (or `null`: a sandboxed frame, a
  redirect from elsewhere) is refused with 403, on every method. Browsers send Origin on every POST,
  PUT, PATCH and DELETE, so no page of another site can change anything. Programs (curl, scripts)
  send no Origin and pass (the API key is their guard).
- **Sec-Fetch-Site**: `cross-site` or `same-site` (another port of the same host counts) is refused
  unless it is a top-level GET navigation (a link followed): no other site can embed the stream or a
  photo, or fetch anything, even where no Origin is sent.
- **Headers** on every answer: nosniff, a CSP (`default-src 'self'` and no inline script for pages;
  nothing at all, sandboxed, for everything else), no Referer to other sites, no framing, and no
  cross-origin reads of any resource.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, request

from config import canonical_host, host_name
from webapp.http.errors import ApiError

log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"localhost"})
WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})

# The pages load their scripts and styles from /static only: no inline script, style or handler, no
# eval. The camera preview is a MediaStream in srcObject, which no fetch directive governs.
PAGE_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
# JSON, photos, the stream, scripts: nothing they could load or run, even opened on their own.
OTHER_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"
# `same-origin` rather than `no-referrer`: both send no Referer to any other site, but with
# `no-referrer` Chromium sends `Origin: null` on a page's own form posts, which the Origin rule refuses.
COMMON_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
                  ("X-Frame-Options", "DENY"), ("Cross-Origin-Resource-Policy", "same-origin"))
ANOTHER_SITE = "this request came from another site's page"


@dataclass(frozen=True)
class HostNames:
    """The names this server answers to (in the Host header), besides the loopback ones.

    names: host names and addresses, lower case, without port (--host when it is one address or
    name, and --allowed-hosts). any_address: whether any IP-literal Host is taken (a wildcard bind):
    more ways to reach the server, and no rebinding risk, since no one's DNS answers for an address.
    """

    names: frozenset[str] = frozenset()
    any_address: bool = False

    @classmethod
    def for_server(cls, host: str, allowed: Iterable[str] = ()) -> "HostNames":
        """The names of a server listening on host (run.py's --host), with the allowed names added."""
        names = {canonical_host(name) for name in allowed}
        wildcard = host.strip() in WILDCARDS
        if not wildcard:
            names.add(canonical_host(host))
        return cls(frozenset(name for name in names if name is not None), any_address=wildcard)

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        if name is None:
            return False
        if name in LOOPBACK_NAMES or name in self.names:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return address.is_loopback or self.any_address


def install(app: Flask, hosts: HostNames) -> None:
    """Check every request's Host, Origin and Sec-Fetch-Site before any route sees it, and add the
    security headers to every answer. Install first, so these checks run before any other hook."""

    @app.before_request
    def edge_checks() -> None:
        check_host(hosts)
        refuse_other_sites()

    app.after_request(add_headers)


def check_host(hosts: HostNames) -> None:
    header = request.environ.get("HTTP_HOST")
    if not header:
        raise ApiError(400, "the request has no Host header: send the name you reach this server by")
    if not hosts.allows(header):
        shown = header if len(header) <= 100 else header[:100] + "…"
        log.info("refused a request for Host %r from %s", shown, request.remote_addr)
        raise ApiError(421, f"this server does not answer to the name {shown!r}: it answers to loopback names "
                            "and the ones it was started with. If that is one of its names, start it with "
                            "--allowed-hosts NAME (FACE_ALLOWED_HOSTS)")


def refuse_other_sites() -> None:
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(origin):
        shown = origin if len(origin) <= 100 else origin[:100] + "…"
        raise ApiError(403, f"{ANOTHER_SITE} ({shown}); this server takes requests from its own pages and "
                            "from programs that send no Origin")
    site = request.headers.get("Sec-Fetch-Site")
    if site in ("cross-site", "same-site") and not _followed_link():
        raise ApiError(403, f"{ANOTHER_SITE} (Sec-Fetch-Site: {site}); only a link to a page may come from "
                            "another site")


def same_origin(origin: str) -> bool:
    """Whether the Origin header names this server as the request reached it: the same host and port
    (a default port written or not). The scheme is not compared, so that a server behind an HTTPS proxy
    that does not say so (no --trusted-proxy) still takes its own pages' requests."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null", or not an origin at all
    return _without_default_port(parts.netloc, parts.scheme) == _without_default_port(request.host, request.scheme)


def _without_default_port(netloc: str, scheme: str) -> str:
    netloc = netloc.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def _followed_link() -> bool:
    """A top-level navigation by GET: a link or a bookmark opened in a tab (not a frame, not a form post)."""
    return (request.method in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Mode") == "navigate"
            and request.headers.get("Sec-Fetch-Dest", "document") == "document")


def add_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in COMMON_HEADERS:
        headers[name] = value
    headers["Content-Security-Policy"] = PAGE_POLICY if response.mimetype == "text/html" else OTHER_POLICY
    return response
