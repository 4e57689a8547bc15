"""Run a quorum of `kraft raft-test-server` processes on loopback.

A test harness (not part of the installed package): used by the real-process
tests (tests/raft/test_quorum_processes.py) and scripts/bench_raft.py. Each node gets its
own directory under `root` (server.properties, meta.properties, the metadata
log, stdout/stderr logs) and a free controller port. Processes are real: kill
sends SIGKILL, and `close` (also on exceptions, via the context manager)
stops every process it started and waits for it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from kraft import meta_properties
from tests.ports import free_port


class LocalQuorum:
    def __init__(
        self,
        root: Path,
        voters: int = 3,
        *,
        rate: float = 0,
        batch: int = 10,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.ids = list(range(1, voters + 1))
        self.ports = {i: free_port() for i in self.ids}
        self.rate = rate
        self.batch = batch
        self.cluster_id = meta_properties.random_uuid()
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        voters_value = ",".join(f"{i}@127.0.0.1:{p}" for i, p in self.ports.items())
        for i in self.ids:
            d = self.dir(i)
            d.mkdir(parents=True, exist_ok=True)
            props = {
                "node.id": str(i),
                "process.roles": "controller",
                "controller.quorum.voters": voters_value,
                "controller.listener.names": "CONTROLLER",
                "listeners": f"CONTROLLER://127.0.0.1:{self.ports[i]}",
                "log.dirs": str(d / "data"),
                **(extra or {}),
            }
            (d / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
            self.format(i)

    def dir(self, node_id: int) -> Path:
        return self.root / f"node{node_id}"

    def data(self, node_id: int) -> Path:
        return self.dir(node_id) / "data"

    def address(self, node_id: int) -> tuple[str, int]:
        return ("127.0.0.1", self.ports[node_id])

    def format(self, node_id: int) -> None:
        meta_properties.format_directories(
            [str(self.data(node_id))], self.cluster_id, node_id, ignore_formatted=True
        )

    def start(self, node_id: int) -> None:
        d = self.dir(node_id)
        cmd = [sys.executable, "-m", "kraft.cli", "raft-test-server",
               "--config", str(d / "server.properties"),
               "--rate", str(self.rate), "--batch", str(self.batch)]
        with open(d / "stdout.log", "ab") as out, open(d / "stderr.log", "ab") as err:
            self.procs[node_id] = subprocess.Popen(cmd, stdout=out, stderr=err)

    def start_all(self) -> None:
        for i in self.ids:
            self.start(i)

    def kill(self, node_id: int) -> None:
        """SIGKILL: no shutdown, no flush."""
        proc = self.procs.pop(node_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def pause(self, node_id: int) -> None:
        """SIGSTOP: the process keeps its sockets but does nothing."""
        self.procs[node_id].send_signal(signal.SIGSTOP)

    def resume(self, node_id: int) -> None:
        """SIGCONT after `pause`."""
        self.procs[node_id].send_signal(signal.SIGCONT)

    def stop(self, node_id: int, timeout: float = 10) -> None:
        """SIGTERM: graceful resignation, then exit."""
        proc = self.procs.pop(node_id)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def wipe_log(self, node_id: int) -> None:
        """Delete the node's metadata log and quorum state but keep it formatted."""
        shutil.rmtree(self.data(node_id) / "__cluster_metadata-0", ignore_errors=True)
        (self.data(node_id) / "committed.txt").unlink(missing_ok=True)

    def committed(self, node_id: int) -> list[str]:
        """Committed payloads as the node's committed.txt shows them now."""
        path = self.data(node_id) / "committed.txt"
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        # A line being written while we read may be cut: drop an incomplete last one.
        if lines and not path.read_text().endswith("\n"):
            lines = lines[:-1]
        return [line.split(" ")[-1] for line in lines]

    def alive(self, node_id: int) -> bool:
        proc = self.procs.get(node_id)
        return proc is not None and proc.poll() is None

    def close(self) -> None:
        for node_id in list(self.procs):
            proc = self.procs.pop(node_id)
            if proc.poll() is None:
                proc.kill()  # SIGKILL ends a stopped (paused) process too
            proc.wait()

    def __enter__(self) -> LocalQuorum:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
