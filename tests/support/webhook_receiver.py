"""A real HTTP receiver on 127.0.0.1 for the webhook tests: it keeps each POST (headers and body) and can
be told to fail the next few with a status of its choice."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.failures: list[int] = []  # statuses to answer the next POSTs with, in order
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.failures.pop(0) if receiver.failures else 204
                    if status < 300:
                        receiver.received.append((dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/faces?token=t0ken"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self.failures.extend(statuses)

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [body for _, body in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
