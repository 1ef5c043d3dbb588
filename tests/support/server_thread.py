"""The app served by waitress from a background thread, as run.py serves it (tests, benchmarks)."""
from __future__ import annotations

import os
import threading
import warnings
from typing import Optional

from webapp.http.serving import make_server


class ServerThread:
    """The app served on 127.0.0.1 from a background thread (tests, benchmarks): start on creation, close()."""

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, trusted_proxy: Optional[str] = None,
                 **options) -> None:
        self._app = app
        self._server = make_server(app, host=host, port=port, max_upload=app.config["MAX_CONTENT_LENGTH"],
                                   max_viewers=app.extensions["faceapp"].max_viewers, trusted_proxy=trusted_proxy,
                                   **options)
        self.url = f"http://{host}:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="server-thread", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        from waitress import wasyncore

        from webapp.routes.live import wait_for_viewers_to_leave

        services = self._app.extensions.get("faceapp")
        if services is not None:  # end open streams first, as run.py does, so no task writes to a closed server
            services.stopping.set()
            wait_for_viewers_to_leave(self._app, timeout)
        # Close from the server's own loop thread: closing its sockets from here while it sits in
        # select() races with it (EBADF in the server thread).
        server = self._server
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError as exc:
            # Seen once in a full run (EBADF): something else in the process closed the number of this
            # server's wake-up pipe. Say so where the run's summary shows it, then close from here.
            warnings.warn(f"waking the server's loop failed ({exc}; its pipe's fd {server.trigger.trigger} is now "
                          f"{_what_fd_is(server.trigger.trigger)}): closing its sockets from this thread",
                          stacklevel=2)
            wasyncore.close_all(server._map)
        self._thread.join(timeout)
        server.task_dispatcher.shutdown(timeout=timeout)


def _what_fd_is(descriptor: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}")
    except OSError:
        return "closed"
