"""The values `PartitionLog` takes and returns, and partition directory names.

Plain data: immutable tuples/dataclasses, safe to hand to other tasks.
`FetchDataInfo` slices keep their segment files open (log.fileio) for as long
as they are referenced. `FlushTask.run()` is the only code here meant for a
worker thread (see `PartitionLog.begin_flush`).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kraft.log.checkpoint import fsync_dir
from kraft.log.errors import ErrorCode
from kraft.log.fileio import FileSlice
from kraft.log.segment import LogSegment

# Special ListOffsets timestamps (Kafka's ListOffsetsRequest constants).
EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def partition_dir(log_dir: Path, topic: str, partition: int) -> Path:
    """`<log_dir>/<topic>-<partition>`, Kafka's partition directory name."""
    return log_dir / f"{topic}-{partition}"


def parse_partition_dir(name: str) -> tuple[str, int]:
    """(topic, partition) from a `<topic>-<partition>` directory name."""
    topic, _, partition = name.rpartition("-")
    if not topic or not partition.isdigit():
        raise ValueError(f"{name!r} is not a <topic>-<partition> directory name")
    return topic, int(partition)


class AppendOrigin(enum.Enum):
    """Who is appending as leader (Kafka's `AppendOrigin`); CLIENT gets the strict checks."""

    CLIENT = "client"
    COORDINATOR = "coordinator"
    RAFT_LEADER = "raft_leader"


class LogAppendInfo(NamedTuple):
    """Outcome of an append. On error nothing was written and offsets are -1.

    `error_code` is a Kafka error code: one of the log's own (ErrorCode), or,
    from the broker's partition, a producer-state error such as
    OUT_OF_ORDER_SEQUENCE_NUMBER that the log does not know."""

    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    base_offset: int = -1  # first offset appended
    last_offset: int = -1
    max_timestamp: int = -1
    log_append_time: int = -1  # broker time if LogAppendTime, else -1
    log_start_offset: int = 0
    num_batches: int = 0
    num_records: int = 0  # offsets consumed (last - first + 1 summed over batches)
    valid_bytes: int = 0
    # Per-record reasons for a rejected batch (Produce v8+ RecordErrors): (index of
    # the record in its batch, message), as Kafka's LogValidator reports them.
    record_errors: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FetchDataInfo:
    """Result of `read`: file slices to send in order. Empty when nothing is readable."""

    fetch_offset: int
    slices: tuple[FileSlice, ...] = ()

    @property
    def size(self) -> int:
        return sum(s.length for s in self.slices)

    def to_bytes(self) -> bytes:
        return b"".join(s.read() for s in self.slices)


class TimestampAndOffset(NamedTuple):
    timestamp: int
    offset: int
    leader_epoch: int | None


@dataclass(slots=True)
class FlushTask:
    """The fsync part of a flush; `run()` may execute in a worker thread."""

    directory: Path
    offset: int
    generation: int
    segments: list[LogSegment] = field(default_factory=list)
    sync_dir: bool = False

    def run(self) -> None:
        for segment in self.segments:
            segment.fsync()
        if self.sync_dir:
            fsync_dir(self.directory)
