"""Free loopback ports for tests and benchmarks that start servers as processes."""

from __future__ import annotations

import socket

from kraft.tools.local_cluster import HOST, RESERVED_PORTS


def free_port() -> int:
    """A port free on 127.0.0.1 now, never one of the fixed ports 9092-9100 that
    people run their own clusters on."""
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port: int = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port
