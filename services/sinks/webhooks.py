"""Events POSTed as JSON to a URL (--webhook), signed, retried with backoff, dropped after a bound.

Each POST carries `X-Faceapp-Timestamp` (unix seconds) and `X-Faceapp-Signature: sha256=<hex>`, an
HMAC-SHA256 under --webhook-secret of `<timestamp>.<body>`. A receiver recomputes it, compares in
constant time and refuses old timestamps, so neither a forged nor a replayed event is believed.
Redirects are not followed (an event goes where it was configured to go, nowhere else).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Callable, Optional
from urllib.parse import urlsplit

from recognition.live.events import FaceEvent
from services.events import Message
from services.sinks.queued import QueuedSink

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Faceapp-Signature"
TIMESTAMP_HEADER = "X-Faceapp-Timestamp"
EVENT_HEADER = "X-Faceapp-Event"
LOG_EVERY = 60.0  # seconds between warnings about dropped events


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_label(url: str) -> str:
    """scheme://host:port of a webhook, for logs and /metrics: never its path, query or credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def check_webhook_url(url: str) -> str:
    """The URL of --webhook, or ValueError saying what is wrong (without repeating it: it may hold a token)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("--webhook must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("--webhook takes no user:password@ (the receiver checks each event's signature instead; "
                         "a token may go in the URL's path or query)")
    if any(ord(char) <= 32 or ord(char) == 127 for char in url.strip()):
        raise ValueError("--webhook holds a space or a control character")
    try:
        parts.port
    except ValueError:
        raise ValueError("--webhook has a port that is not a number from 1 to 65535") from None
    return url.strip()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx is then an error: counted as a failed delivery


class WebhookSink(QueuedSink):
    """attempts: tries per event (the first, then retries after backoff, doubling); an event that fails
    them all, or that the receiver refuses with a 4xx other than 408 and 429, is dropped and counted."""

    def __init__(self, url: str, secret: bytes, *, attempts: int = 5, backoff: float = 0.5, timeout: float = 5.0,
                 capacity: int = 500, wait: Callable[[float], bool] | None = None) -> None:
        super().__init__(f"webhook:{webhook_label(url)}", capacity=capacity)
        self.url = url
        self._secret = secret
        self._attempts, self._backoff, self._timeout = attempts, backoff, timeout
        self._wait = wait or self._stop.wait  # between retries; returns True when stopping
        self._opener = urllib.request.build_opener(_NoRedirects)
        self.failures = 0  # tries that failed, retried or not
        self._told_at: Optional[float] = None

    def offer(self, message: Message) -> None:
        if isinstance(message, FaceEvent):  # states are for MQTT's retained topics; a webhook gets events
            super().offer(message)

    def deliver(self, message: Message) -> bool:
        assert isinstance(message, FaceEvent)
        body = json.dumps(message.to_json(), separators=(",", ":")).encode()
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            outcome = self._post(body, message.kind)
            if outcome is not None:
                return outcome
            self.failures += 1
            if attempt == self._attempts or self._wait(delay):
                break
            delay *= 2
        self._tell_dropped(f"event {message.id} dropped after {self._attempts} tries")
        return False

    def _tell_dropped(self, what: str) -> None:
        """Logged once a minute at most: a receiver that is away must not flood the log with an event each."""
        now = time.monotonic()
        if self._told_at is None or now - self._told_at >= LOG_EVERY:
            log.warning("%s: %s (%d dropped so far)", self.name, what, self.dropped + 1)
            self._told_at = now

    def _post(self, body: bytes, kind: str):
        """True when delivered, False when refused for good, None when worth another try."""
        timestamp = str(int(time.time()))
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "faceapp-webhook", EVENT_HEADER: kind,
            TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(self._secret, timestamp, body)})
        deadline = time.monotonic() + 2 * self._timeout
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                # read1: one receive at a time, so the deadline is looked at between them and an answer that
                # trickles a byte a time is cut off (read(n) would wait for all n, each byte its own timeout).
                while response.read1(4096) and time.monotonic() < deadline:
                    pass
                return True
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code < 500 and exc.code not in (408, 429):  # a redirect too: not followed, not retried
                self._tell_dropped(f"the receiver refused an event: HTTP {exc.code}")
                return False
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.debug("%s: %s", self.name, exc)
            return None
