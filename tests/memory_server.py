"""A real server process (run.py) whose peak memory one request at a time can be measured.

The kernel keeps each process's peak resident set (VmHWM in /proc/<pid>/status); writing 5 to
/proc/<pid>/clear_refs resets it to the present resident set. So: reset, send one request, read the
peak: what that request raised the server's peak by, whatever freed it afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tests.conftest import ROOT, free_port, wait_until

MB = 1 << 20


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@dataclass(frozen=True)
class Measured:
    status: int
    body: dict
    growth: int  # bytes the request raised the server's peak resident set by

    @property
    def error(self) -> str:
        return str(self.body.get("error", ""))


class MeasuredServer:
    """run.py --source none --model Dlib --offline in a process of its own, on a free port, with its
    data dir and key file under folder. extra: more run.py options (e.g. ["--liveness", "off"]); root:
    the checkout whose run.py runs (bench/bombs_bench.py measures another one's for comparison)."""

    def __init__(self, folder: Path, deepface_home: Path, extra: list[str] = (), *, timeout: float = 120,
                 root: Path = ROOT) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "server.log"
        env = dict(os.environ, DEEPFACE_HOME=str(deepface_home),
                   # Memory a request frees goes back to the system at once (glibc would otherwise keep
                   # large freed blocks in its heap), so one request's leftovers cannot hide the next
                   # one's growth: the figures are each request's own, and never smaller than real.
                   MALLOC_MMAP_THRESHOLD_=str(128 * 1024), MALLOC_TRIM_THRESHOLD_=str(128 * 1024))
        for name in [name for name in env if name.startswith("FACE_")]:
            del env[name]  # the options below are the whole configuration
        command = [sys.executable, str(root / "run.py"), "--source", "none", "--model", "Dlib", "--offline",
                   "--port", str(self.port), "--data-dir", str(folder / "db"),
                   "--key-file", str(folder / "keys" / "store.key"), *extra]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        if not wait_until(self._answers, timeout=timeout, interval=0.25):
            self.stop()
            raise RuntimeError(f"the server did not start in {timeout} s:\n{self.log()[-3000:]}")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/hash", timeout=2):
                return True
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def resident(self) -> int:
        return _status_kb(self.process.pid, "VmRSS") * 1024

    def peak(self) -> int:
        return _status_kb(self.process.pid, "VmHWM") * 1024

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def measure(self, send: Callable[[str], "requests.Response"]) -> Measured:  # noqa: F821
        """send(base_url) makes one request; what it answered and what it raised the peak by."""
        self._settle()
        self.reset_peak()
        before = self.resident()
        response = send(self.url)
        growth = max(0, self.peak() - before)
        return Measured(response.status_code, _body(response), growth)

    def measure_many(self, send: Callable[[str], list]) -> tuple[list[Measured], int]:
        """send(base_url) makes requests at once (threads) and returns their responses: what each
        answered, and what they raised the peak by together."""
        self._settle()
        self.reset_peak()
        before = self.resident()
        responses = send(self.url)
        growth = max(0, self.peak() - before)
        return [Measured(r.status_code, _body(r), growth) for r in responses], growth

    def _settle(self, timeout: float = 2.0) -> None:
        """Until the resident set stops shrinking: the previous request's buffers are freed by its
        thread just after its answer is sent, and must not count in the next one's baseline."""
        deadline, last = time.monotonic() + timeout, self.resident()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.resident()
            if now >= last:
                return
            last = now

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)


def _body(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:300]}
    return body if isinstance(body, dict) else {"json": body}


def pretty(measured: Measured) -> str:
    return f"{measured.status} +{measured.growth / MB:.1f} MB {json.dumps(measured.body)[:160]}"
