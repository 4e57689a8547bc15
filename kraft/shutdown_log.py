"""What a node's own shutdown causes is logged at DEBUG.

A node that shuts down resigns its partitions, unloads its groups, is fenced,
resigns the metadata quorum and stops being the active controller: each a
state change logged at INFO when it happens for any other reason. Caused by
the shutdown the user asked for, they would be nine lines for one event, so
`Node` logs "shutting down" and "stopped" at INFO and the steps between at
DEBUG (issue 12, "logs people read").

A process usually runs one node (`kraft dev`, `kraft start`); tests run
several in one process, so this is kept per node id. Each log site that a
node's shutdown reaches asks `level(node_id)`.
"""

from __future__ import annotations

import logging

_stopping: set[int] = set()


def begin(node_id: int) -> None:
    """Node `node_id` of this process has started to shut down."""
    _stopping.add(node_id)


def end(node_id: int) -> None:
    """Node `node_id` of this process has stopped (or was never stopping)."""
    _stopping.discard(node_id)


def level(node_id: int) -> int:
    """DEBUG while node `node_id` shuts down, else INFO."""
    return logging.DEBUG if node_id in _stopping else logging.INFO
