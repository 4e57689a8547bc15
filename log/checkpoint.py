"""Kafka's checkpoint text files, written atomically.

Format (Kafka's `CheckpointFile`), UTF-8, one item per line, "\\n" endings::

    0                 version, always 0
    N                 number of entries
    <entry>           N lines, fields separated by one space

Offset checkpoints (`recovery-point-offset-checkpoint`,
`replication-offset-checkpoint`, `log-start-offset-checkpoint`, one file per
log dir covering all its partitions) have entries `topic partition offset`.
The leader-epoch checkpoint (log.epoch) has entries `epoch start_offset`.

Crash behaviour: a write goes to `<name>.tmp`, is fsynced, renamed over the
old file, and the directory is fsynced; a crash leaves either the old or the
new file whole (a stale `.tmp` may remain and is ignored and overwritten).
A file that exists but does not parse raises `CorruptCheckpointError`: it was
written atomically, so damage means the disk is in doubt.

Thread-safety: functions keep no state; concurrent writers of the *same* file
must be serialised by their owner.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from kraft.log.errors import CorruptCheckpointError

VERSION = 0
TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    """fsync a directory so that creations, renames and deletions in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` by `data`: write tmp, fsync, rename, fsync the directory.

    `durable=False` skips both fsyncs: after a crash the file may be missing,
    empty or old, so only for files whose reader checks them and can do
    without (a producer-state snapshot is CRC-checked and rebuilt from the log).
    """
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def write_lines(path: Path, entries: Iterable[Iterable[object]]) -> None:
    """Atomically write a checkpoint file of `entries` (each a sequence of fields)."""
    lines = [" ".join(str(field) for field in entry) for entry in entries]
    text = f"{VERSION}\n{len(lines)}\n" + "".join(line + "\n" for line in lines)
    atomic_write(path, text.encode())


def read_lines(path: Path, fields: int) -> list[list[str]] | None:
    """Read a checkpoint file's entries (each `fields` strings); None if it is missing."""
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise CorruptCheckpointError(f"{path}: not UTF-8") from e
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        raise CorruptCheckpointError(f"{path}: missing version or count line")
    if lines[0].strip() != str(VERSION):
        raise CorruptCheckpointError(f"{path}: unrecognised version {lines[0]!r}")
    try:
        count = int(lines[1])
    except ValueError as e:
        raise CorruptCheckpointError(f"{path}: bad count line {lines[1]!r}") from e
    entries = [line.split(" ") for line in lines[2:]]
    if count != len(entries):
        raise CorruptCheckpointError(f"{path}: expected {count} entries, found {len(entries)}")
    for entry in entries:
        if len(entry) != fields or not all(entry):
            raise CorruptCheckpointError(f"{path}: malformed line {' '.join(entry)!r}")
    return entries


def _to_int(path: Path, text: str) -> int:
    try:
        return int(text)
    except ValueError as e:
        raise CorruptCheckpointError(f"{path}: {text!r} is not an integer") from e


def write_offset_checkpoint(path: Path, offsets: Mapping[tuple[str, int], int]) -> None:
    """Atomically write `topic partition offset` lines for every (topic, partition)."""
    for topic, _partition in offsets:
        if not topic or " " in topic or "\n" in topic:
            raise ValueError(f"topic name {topic!r} cannot be checkpointed")
    write_lines(
        path,
        ((topic, partition, offset) for (topic, partition), offset in sorted(offsets.items())),
    )


def read_offset_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    """Read an offset checkpoint; a missing file is an empty mapping."""
    entries = read_lines(path, 3)
    if entries is None:
        return {}
    return {(t, _to_int(path, p)): _to_int(path, o) for t, p, o in entries}


def write_epoch_checkpoint(path: Path, entries: Iterable[tuple[int, int]]) -> None:
    """Atomically write a leader-epoch-checkpoint of `(epoch, start_offset)` entries."""
    write_lines(path, entries)


def read_epoch_checkpoint(path: Path) -> list[tuple[int, int]] | None:
    """Read a leader-epoch-checkpoint; None if it is missing."""
    entries = read_lines(path, 2)
    if entries is None:
        return None
    return [(_to_int(path, e), _to_int(path, o)) for e, o in entries]
