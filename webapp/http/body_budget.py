"""The request bodies waitress holds, all together, bounded: a body that would take them past the budget
gets 503 before it is read.

waitress reads each request's whole body into memory before the app sees it (never into a file here:
nothing of a face is written to disk), so the API key and every other check come after it. Ten
connections that each sent 14 of a declared 15 MB to /faces without a key, and never finished, held
+140 MB, and the connection limit allows more. So when a body starts, the bodies of every request the
server has not finished with (being received, queued, or being served) are added up, by their
declared length: a body that does not fit gets 503 with Retry-After at once, and its connection is
closed without its bytes being read. A chunked body, whose length is not declared, is counted as it
arrives. Requests without a body (the stream, every GET) are never refused here.

What is left: whoever holds the budget with unfinished bodies makes other large bodies wait; the
connection limit and the idle timeout (webapp/http/serving.py) are the rest of the defence, and a reverse
proxy that buffers bodies is the way to serve strangers at scale.
"""
from __future__ import annotations

import functools
from typing import Mapping, Optional

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import Error

RETRY_AFTER = 2  # seconds: most bodies are received and served by then


class BodiesBusy(Error):
    code = 503
    reason = "Service Unavailable"


class BodyBudget:
    """At most `limit` bytes of request bodies held at once, across the server's connections.

    limit: more lets more large uploads be in flight together, each held whole in memory; less makes
    an upload wait (503) while others are held, and lets fewer unfinished bodies (from anyone, before
    any key is checked) take memory."""

    def __init__(self, limit: int, socket_map: Mapping) -> None:
        self.limit = limit
        self._map = socket_map  # the server's sockets, fd -> dispatcher; read from its loop thread

    def held(self, besides: Optional[HTTPRequestParser] = None) -> int:
        """The bytes of the bodies the server holds or is receiving, besides this request's."""
        total = 0
        for channel in [d for d in list(self._map.values()) if isinstance(d, HTTPChannel)]:
            # A worker thread may pop a request meanwhile: a copy of the list, and an estimate off by one.
            # A refused request (this budget's 503, waitress's 413) holds no body.
            for request in [channel.request, *list(channel.requests)]:
                if request is not None and request is not besides and request.headers_finished and not request.error:
                    total += body_size(request)
        return total

    @property
    def parser_class(self):
        """For a channel's parser_class: parsers that count against this budget."""
        return functools.partial(BudgetedParser, budget=self)


def body_size(request: HTTPRequestParser) -> int:
    return request.body_bytes_received if request.chunked else request.content_length


class BudgetedParser(HTTPRequestParser):
    """waitress's request parser, refusing a body the budget has no room for as soon as its headers
    have been read (or, chunked, as it grows)."""

    def __init__(self, adj, budget: BodyBudget) -> None:
        super().__init__(adj)
        self.budget = budget

    def received(self, data: bytes) -> int:
        starting = not self.headers_finished
        consumed = super().received(data)
        if self.completed or not self.headers_finished or not (starting or self.chunked):
            return consumed
        size = body_size(self)
        if size and self.budget.held(besides=self) + size > self.budget.limit:
            self.error = BodiesBusy(f"the server holds as many request bodies as it may ({self.budget.limit >> 20} "
                                    f"MB): try again in {RETRY_AFTER} s")
            self.completed = True
        return consumed
