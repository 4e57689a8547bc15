"""Run `kraft dev` as a real process for integration tests.

`DevNode.start(data_dir)` launches `python -m kraft.cli dev` on free ports
with the given data directory, waits for its `ready` line and returns the
node; `stop()` sends SIGTERM and waits (SIGKILL after a timeout), `kill()`
sends SIGKILL. stdout and stderr go to files in the data directory's parent
so a failing test can show them. Every process started is stopped by
`close()`, also when the test fails (use the fixtures in conftest.py).
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.ports import free_port

READY = re.compile(r"ready: bootstrap\.servers=(\S+)")
START_TIMEOUT_S = 30.0


class DevNode:
    def __init__(self, data_dir: Path, logs: Path, *overrides: str,
                 file_size_limit: int | None = None) -> None:
        self.data_dir = data_dir
        self.file_size_limit = file_size_limit  # RLIMIT_FSIZE: writes beyond fail, EFBIG
        self.logs = logs
        self.overrides = overrides
        self.port = free_port()
        self.controller_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.ready_line = ""

    def start(self) -> DevNode:
        self.logs.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "kraft.cli", "dev", "--port", str(self.port),
               "--controller-port", str(self.controller_port), "--data-dir", str(self.data_dir)]
        for override in self.overrides:
            cmd += ["--override", override]
        before = self._ready_lines()
        stdout = open(self.logs / "stdout.log", "ab")  # noqa: SIM115 -- closed with the process
        stderr = open(self.logs / "stderr.log", "ab")  # noqa: SIM115
        limit = self.file_size_limit

        def limit_file_size() -> None:  # in the child, before exec
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        self.proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr,
                                     preexec_fn=limit_file_size)
        stdout.close()
        stderr.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            lines = self._ready_lines()
            if len(lines) > len(before):
                self.ready_line = lines[-1]
                return self
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"kraft dev exited with {code}:\n{self.stderr()}")
            time.sleep(0.05)
        raise TimeoutError(f"kraft dev not ready in {START_TIMEOUT_S} s:\n{self.stderr()}")

    def _ready_lines(self) -> list[str]:
        path = self.logs / "stdout.log"
        text = path.read_text() if path.exists() else ""
        return [line for line in text.splitlines() if READY.search(line)]

    def stderr(self) -> str:
        path = self.logs / "stderr.log"
        return path.read_text()[-5000:] if path.exists() else ""

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        proc = self.proc
        assert proc is not None
        self.proc = None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def kill(self) -> None:
        proc = self.proc
        assert proc is not None
        self.proc = None
        proc.kill()
        proc.wait()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
