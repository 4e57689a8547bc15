"""Processes of kraft.tools.local_cluster: finding, signalling and waiting for nodes.

A pid file is believed only while /proc/<pid>/cmdline is a node's command
(`kraft.cli start <config>`) and the process is not a zombie; waiting for a
process that is not our child goes through a pidfd (Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
from pathlib import Path

HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """In a child before exec: have the kernel SIGKILL it when the thread that
    started it exits (Linux PR_SET_PDEATHSIG; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _is_node_process(pid: int, config: Path) -> bool:
    """True if `pid` is alive (not a zombie) and runs `kraft.cli start <config>`."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (b"kraft.cli" in args and b"start" in args and str(config).encode() in args
            and _proc_state(pid) not in ("Z", "X", None))


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait until process `pid` (not our child) has exited, every thread of it,
    so its sockets and directory locks are released; False on timeout. A
    pidfd becomes readable exactly then, as wait(2) would see it; the leader
    thread's zombie state in /proc alone would be too early."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return bool(ready)


def _proc_state(pid: int) -> str | None:
    """The one-letter state in /proc/<pid>/stat (R, S, T, Z, ...), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:][:1]


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the node's listener does
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True
