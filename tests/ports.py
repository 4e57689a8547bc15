"""Free loopback ports for tests and benchmarks that start servers as processes."""

from __future__ import annotations

from kraft.tools.local_cluster import free_loopback_ports


def free_port() -> int:
    """A port free on 127.0.0.1 now, never one of the fixed ports 9092-9100 that
    people run their own clusters on (several at once: `free_loopback_ports`)."""
    return free_loopback_ports(1)[0]
