"""Kafka error codes the log produces, and the log's exceptions.

The log knows only the handful of Kafka error codes that storage can cause. The
numeric values are Kafka's (and equal to `kio.schema.errors.ErrorCode`), so the
broker converts with `kio.schema.errors.ErrorCode(int(code))`.

Two kinds of failure, following docs/design.md ("Errors"):

* Bad input from a peer (a producer's or a leader's bytes) is reported as an
  `ErrorCode` -- in `LogAppendInfo.error_code` for appends, or as a `LogError`
  subclass carrying `error_code` where Kafka's own log throws
  (`OffsetOutOfRangeError` from `read`). Nothing is written when this happens.
* Broken storage (a checkpoint file that does not parse, an I/O error) is raised
  as `OSError` / `CorruptCheckpointError`; the node is expected to stop.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """The subset of Kafka's error codes that the log can return."""

    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    MESSAGE_TOO_LARGE = 10
    RECORD_LIST_TOO_LARGE = 18
    INVALID_TIMESTAMP = 32
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    INVALID_RECORD = 87


class LogError(Exception):
    """Base class of the log's exceptions that map to a Kafka error code."""

    error_code: ErrorCode = ErrorCode.NONE


class InvalidBatchError(LogError):
    """A record batch failed validation; `error_code` says how (Kafka's code)."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


class OffsetOutOfRangeError(LogError):
    """An offset outside [log start offset, log end offset] was asked for."""

    error_code = ErrorCode.OFFSET_OUT_OF_RANGE

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        super().__init__(f"offset {offset} is outside [{log_start_offset}, {log_end_offset}]")
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


class UnexpectedAppendOffsetError(LogError):
    """A follower append whose first batch does not start at the log end offset.

    Kafka's `UnexpectedAppendOffsetException`: the fetcher decides what to do
    (usually `truncate_fully_and_start_at(first_offset)` when it fetched from the
    leader's log start offset).
    """

    error_code = ErrorCode.OFFSET_OUT_OF_RANGE

    def __init__(self, first_offset: int, log_end_offset: int) -> None:
        super().__init__(
            f"follower append starts at offset {first_offset}, "
            f"but the log end offset is {log_end_offset}"
        )
        self.first_offset = first_offset
        self.log_end_offset = log_end_offset


class CorruptCheckpointError(OSError):
    """A checkpoint file exists but does not parse. Storage is in doubt: stop."""


class CorruptSegmentError(OSError):
    """Data the log had validated no longer parses (disk changed underneath). Stop."""
