"""File descriptors that outlive deletion, positioned writes, and file slices.

`FileHandle` owns one fd. A deleted segment is only unlinked: its handle
closes the fd when the last reference goes away (CPython refcounting makes
that deterministic), so a `FileSlice` taken by a fetch stays readable even if
retention deletes the segment before it is read -- the same guarantee Kafka
gets from deleting segments asynchronously.
`close()` (log shutdown) sets the fd to -1 so a late user gets EBADF instead
of reading some other file that reused the number.

A slice of a region that was *truncated* (follower truncation) reads fewer
bytes or newer data; callers serve consumers below the high watermark, which
is never truncated, as in Kafka.

Thread-safety: `FileHandle.fileno()` and `FileSlice.read()` may be called from
any thread; `close()` only by the owning log.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

IOV_MAX = 1024


class FileHandle:
    """An open fd, closed on `close()` or when garbage collected."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> None:
        self.path = path
        self._fd = -1
        self._fd = os.open(path, flags | os.O_CLOEXEC, 0o644)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


def write_all(
    fd: int, buffers: Sequence[bytes | memoryview], position: int, total: int | None = None
) -> int:
    """Write `buffers` contiguously at `position` with `os.pwritev`; return bytes written.

    `total` (their summed length) may be passed to save recomputing it. A
    short write (rare on regular files) is finished from a joined copy.
    """
    if total is not None and len(buffers) <= IOV_MAX:
        written = os.pwritev(fd, buffers, position)
        if written == total:
            return written
        return written + _finish(fd, b"".join(buffers), written, position)
    done = 0
    for start in range(0, len(buffers), IOV_MAX):
        chunk = buffers[start : start + IOV_MAX]
        expected = sum(map(len, chunk))
        written = os.pwritev(fd, chunk, position)
        if written < expected:
            written += _finish(fd, b"".join(chunk), written, position)
        position += written
        done += written
    return done


def _finish(fd: int, data: bytes, written: int, position: int) -> int:
    """Write `data[written:]` at `position + written`; return the bytes added."""
    rest = memoryview(data)[written:]
    added = 0
    while rest:
        n = os.pwrite(fd, rest, position + written + added)
        added += n
        rest = rest[n:]
    return added


def read_exactly(fd: int, length: int, position: int) -> bytes:
    """pread `length` bytes at `position`; fewer only at end of file."""
    data = os.pread(fd, length, position)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, position + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class FileSlice(NamedTuple):
    """`length` bytes at `position` of a segment file, read with `read()`.

    Holds the segment's `FileHandle`, which keeps the fd open while the slice
    is alive. `path` is informational (the file may have been deleted).

    The fetch path reads slices into the response (`FetchDataInfo.to_bytes`)
    rather than `os.sendfile` them to the socket: measured on the project's VM
    (scripts/bench_log.py, serving 1 MiB fetches over loopback), sendfile was
    the slower of the two, and the copies through Python are about a tenth of
    the broker's fetch CPU (py-spy), below what a sendfile path spliced into
    the response framing would be worth.
    """

    handle: FileHandle
    position: int
    length: int

    @property
    def path(self) -> Path:
        return self.handle.path

    def fileno(self) -> int:
        return self.handle.fileno()

    def read(self) -> bytes:
        """The slice's bytes (fewer if the file was truncated underneath)."""
        return read_exactly(self.handle.fileno(), self.length, self.position)
