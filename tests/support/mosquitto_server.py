"""A throwaway Mosquitto broker for the MQTT tests: Debian's `mosquitto` (`make mosquitto` installs it),
on a free loopback port, with a user and password of the test's own, in a temporary folder, stopped
and removed after. It can be stopped and started again on the same port (a broker that goes away).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from tests.support.postgres_server import free_port

USER, PASSWORD = "faceapp", "broker-secret"
START_TIMEOUT = 10.0


class MosquittoMissing(RuntimeError):
    pass


def mosquitto_program() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise MosquittoMissing("Mosquitto is not installed: `make mosquitto` installs Debian's mosquitto")


class MosquittoServer:
    def __init__(self) -> None:
        self.program = mosquitto_program()
        self.folder = Path(tempfile.mkdtemp(prefix="faceapp-mqtt-"))
        self.port = free_port()
        passwords = self.folder / "passwords"
        passwords.write_text("")
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), USER, PASSWORD], check=True, capture_output=True,
                       timeout=30)
        passwords.chmod(0o600)
        if os.geteuid() == 0:  # mosquitto drops root for its own user, which must reach and read the file
            self.folder.chmod(0o755)
            shutil.chown(passwords, "mosquitto", "mosquitto")
        (self.folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
            "persistence false\nlog_dest stderr\nlog_type error\n")
        self._process: Optional[subprocess.Popen] = None

    def url(self, prefix: str = "faceapp", *, password: str = PASSWORD) -> str:
        return f"mqtt://{USER}:{password}@127.0.0.1:{self.port}/{prefix}"

    def start(self) -> "MosquittoServer":
        self._process = subprocess.Popen([self.program, "-c", str(self.folder / "mosquitto.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self._process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
