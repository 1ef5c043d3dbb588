"""Serving the app with waitress: thread count, buffers that never spill to disk, and JSON errors.

waitress moves request bodies over inbuf_overflow and pending output over outbuf_overflow into
temporary files. Uploads are face photos and the stream is faces, so both limits sit above the
largest body we accept and the output high-water mark: nothing of a face is ever written to disk.
A body over the limit is refused by waitress itself, before the app sees it; its answer is made
JSON like every other error. The bodies held at once, unfinished ones included, are bounded by a
budget (webapp/http/body_budget.py); connections are at most twice the threads, and one idle for
CHANNEL_TIMEOUT is closed (a request being served, such as a stream viewer's, is never idle).

Behind a reverse proxy (--trusted-proxy ADDR), waitress takes the scheme and the client's address from
the X-Forwarded-Proto and -For headers of requests that come from that address only (the last hop:
what the proxy itself saw), and removes those headers from every other request, so a client cannot
claim HTTPS (the session cookie's Secure flag) or another address (the rate limits).
"""
from __future__ import annotations

import json
import logging
import socket
import time
from typing import Optional

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from webapp.http.body_budget import RETRY_AFTER, BodiesBusy, BodyBudget
from webapp.http.guard import COMMON_HEADERS, OTHER_POLICY

STREAM_HIGH_WATERMARK = 2 * 1024 * 1024  # a slow viewer skips frames beyond this instead of queueing them
BODY_HEADROOM = 1024 * 1024  # multipart framing around an upload of the maximum size
# Not X-Forwarded-Host: the Host the proxy sends is the one checked (webapp/http/guard.py). A proxy passes a
# client's own X-Forwarded-Host through unless told otherwise, and a rebinding page can add that header.
log = logging.getLogger(__name__)
PROXY_HEADERS = {"x-forwarded-for", "x-forwarded-proto"}
# waitress's defaults are 120 s, checked every 30 s, and 100 connections. A channel idle this long
# between requests is closed: browsers reopen one as needed, and a client that opened a request and
# stopped sending holds its part of the body budget for no longer than this.
CHANNEL_TIMEOUT = 30
CLEANUP_INTERVAL = 10
STALLED_CLIENT = 30.0  # seconds a client may leave a stream's output unread past the high-water mark
BODIES_HELD = 4  # the body budget: this many bodies of the largest size at once (webapp/http/body_budget.py)


def waitress_options(*, max_upload: int, max_viewers: int, trusted_proxy: Optional[str] = None) -> dict:
    """trusted_proxy: the address of the reverse proxy whose X-Forwarded-* headers are believed (one
    hop); None: nobody's are, and they are removed before the app sees them."""
    body_limit = max_upload + BODY_HEADROOM
    proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
             "trusted_proxy_headers": PROXY_HEADERS} if trusted_proxy else {}
    threads = max_viewers + 8  # one per stream viewer plus headroom, so /hash stays quick
    return {
        **proxy,
        "clear_untrusted_proxy_headers": True,
        "threads": threads,
        # Every thread busy, and as many connections again idle between requests (a page's fetches);
        # beyond, new connections wait in the listen queue until one closes.
        "connection_limit": 2 * threads,
        "channel_timeout": CHANNEL_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
        "outbuf_high_watermark": STREAM_HIGH_WATERMARK,
        "outbuf_overflow": 2 * STREAM_HIGH_WATERMARK,
        "inbuf_overflow": body_limit + 1,
        "max_request_body_size": body_limit,
        "ident": "faceapp",
    }


class JsonErrorTask(ErrorTask):
    """waitress's own errors (body too large, malformed request line, no room for a body...) as
    {"error": "..."}."""

    def execute(self):
        # types-waitress calls request the Error; it is the parser, which holds the Error (waitress reads it so).
        error = self.request.error  # type: ignore[attr-defined]
        headers: list = self.response_headers  # type: ignore[assignment]  # a list at run time, waitress appends to it
        self.status = f"{error.code} {error.reason}"
        body = json.dumps({"error": f"{error.reason}: {error.body}"}).encode()
        headers.extend([("Content-Type", "application/json"), *COMMON_HEADERS,
                                      ("Content-Security-Policy", OTHER_POLICY)])
        if isinstance(error, BodiesBusy):
            headers.append(("Retry-After", str(RETRY_AFTER)))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map=map)
        self.parser_class = getattr(server, "body_budget").parser_class  # set on each listener by make_server
        self.stalled_after: float = getattr(server, "stalled_after", STALLED_CLIENT)

    def _flush_outbufs_below_high_watermark(self):
        """waitress's own, with a deadline. A stream's thread waits here while its client has more than the
        high-water mark unread; a client that does not bring it back under the mark within stalled_after
        seconds (one that reads nothing, or too slowly to take even that) is disconnected, so it cannot
        hold a server thread and a stream slot for ever (waitress would wait without end)."""
        if self.total_outbufs_len <= self.adj.outbuf_high_watermark:
            return
        deadline = time.monotonic() + self.stalled_after
        with self.outbuf_lock:
            # types-waitress leaves out these two; they are waitress's own, as in the method this replaces.
            (_, exception) = self._flush_exception(self._flush_some, do_close=False)  # type: ignore[attr-defined]
            if exception:
                self.server.pull_trigger()
                self.outbuf_lock.wait(self.stalled_after)
                return
            while self.connected and self.total_outbufs_len > self.adj.outbuf_high_watermark:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._drop_stalled()  # write_soon then raises ClientDisconnected, as for a client gone
                    return
                self.server.pull_trigger()
                self.outbuf_lock.wait(min(remaining, 1.0))

    def _drop_stalled(self) -> None:
        log.info("a client left %d bytes unread for %.0f s: disconnected", self.total_outbufs_len, self.stalled_after)
        self.will_close = True
        self.connected = False  # as waitress's own cancel(): every later write of this channel's task gives up
        try:  # the server's loop then sees the connection end and closes it; this thread stops writing now
            if self.socket is not None:
                self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.pull_trigger()


def make_server(app, *, host: str, port: int, max_upload: int, max_viewers: int, trusted_proxy: Optional[str] = None,
                stalled_after: float = STALLED_CLIENT):
    sockets: dict = {}  # every listening socket's and connection's dispatcher, shared by the servers of each address
    options = waitress_options(max_upload=max_upload, max_viewers=max_viewers, trusted_proxy=trusted_proxy)
    server = create_server(app, map=sockets, host=host, port=port, **options)
    budget = BodyBudget(BODIES_HELD * (max_upload + BODY_HEADROOM), sockets)
    for listener in [d for d in sockets.values() if isinstance(d, BaseWSGIServer)]:  # one per address listened on
        listener.channel_class = JsonErrorChannel
        setattr(listener, "body_budget", budget)  # read by each of its channels (JsonErrorChannel)
        setattr(listener, "stalled_after", stalled_after)
    return server
