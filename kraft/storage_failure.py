"""A failing disk stops the node (Kafka's LogDirFailureChannel and Exit.halt).

Theory of operation: when a write, flush or rename in a log directory fails
with a storage error (disk full, I/O error, read-only file system, file too
large, quota exceeded), the in-memory state of that log may no longer match
the disk: a batch may be half written, a failed fsync may have dropped pages
(after which reading the file can return stale bytes). Kafka takes such a
log directory offline, and a broker whose log directories have all failed
halts. kraft has one log directory per node in practice and does not take a
single directory offline, so any storage failure stops the node:

- a request handler that hits one does not answer it (the connection
  closes; clients retry elsewhere or after a restart) and does not treat it
  as a bug of that request (net.server re-raises what `is_storage_failure`
  accepts);
- a background task that hits one ends with it;
- either way the error leaves the node's task tree, which stops, and
  `kraft dev` / `kraft start` print one line naming the error and exit 1.

Nothing is "repaired" in place: what was acknowledged was written before the
acknowledgement, and the next start recovers each log from its last valid
batch as after kill -9, once the directory is writable again.
"""

from __future__ import annotations

import errno
from typing import Final

__all__ = ["STORAGE_ERRNOS", "find_storage_failure", "is_storage_failure"]

STORAGE_ERRNOS: Final = frozenset({
    errno.ENOSPC, errno.EIO, errno.EROFS, errno.EFBIG, errno.EDQUOT,
})


def is_storage_failure(exc: BaseException) -> bool:
    """True for an OSError that says the disk failed, not the request or the network."""
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def find_storage_failure(exc: BaseException) -> OSError | None:
    """The first storage failure in `exc` or, for an exception group, in its leaves."""
    if is_storage_failure(exc):
        assert isinstance(exc, OSError)
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_storage_failure(inner)
            if found is not None:
                return found
    return None
