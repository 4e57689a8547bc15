"""Control records: the commit and abort markers of transactions (Kafka's format).

A transaction marker is a v2 batch with the transactional and control bits
set (attributes 0x30), the producer id and epoch of the transaction, base
sequence -1, uncompressed, holding one record (Kafka's `ControlRecordType`,
`EndTransactionMarker`)::

    key    version i16 (0), type i16 (0 = ABORT, 1 = COMMIT)
    value  version i16 (0), coordinatorEpoch i32

Readers tolerate higher versions as Kafka does (they read the fields they
know; a key with an unknown type is UNKNOWN, which is skipped). Pure
functions: thread-safe.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from kraft.log.batch import Buffer, parse_header
from kraft.log.errors import ErrorCode, InvalidBatchError
from kraft.log.records import Record, build_batch, iter_records

__all__ = [
    "ControlType",
    "EndTxnMarker",
    "build_end_txn_marker",
    "read_end_txn_marker",
]

_KEY = struct.Struct(">hh")
_VALUE = struct.Struct(">hi")
CURRENT_VERSION = 0


class ControlType(enum.IntEnum):
    """Kafka's `ControlRecordType` ids (LEADER_CHANGE and the KRaft ones are Raft's)."""

    ABORT = 0
    COMMIT = 1
    UNKNOWN = -1


class EndTxnMarker(NamedTuple):
    """A decoded marker: which way the transaction ended, and who wrote it."""

    control_type: ControlType
    coordinator_epoch: int

    @property
    def committed(self) -> bool:
        return self.control_type is ControlType.COMMIT


def build_end_txn_marker(
    *,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    commit: bool,
    timestamp: int,
    partition_leader_epoch: int = -1,
) -> bytes:
    """The control batch (base offset 0) that ends `producer_id`'s transaction."""
    control_type = ControlType.COMMIT if commit else ControlType.ABORT
    record = Record(
        key=_KEY.pack(CURRENT_VERSION, control_type),
        value=_VALUE.pack(CURRENT_VERSION, coordinator_epoch),
        headers=(),
        timestamp=timestamp,
    )
    return build_batch(
        [record],
        partition_leader_epoch=partition_leader_epoch,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=-1,
        is_transactional=True,
        is_control=True,
    )


def read_end_txn_marker(batch: Buffer, pos: int = 0) -> EndTxnMarker | None:
    """The marker held by the control batch at `pos`; None when the batch is a
    control batch of another kind (Raft's). Raises InvalidBatchError
    (INVALID_RECORD) for a control batch whose record cannot be a marker."""
    header = parse_header(batch, pos)
    if not header.is_control:
        raise ValueError(f"batch at {header.base_offset} is not a control batch")
    records = list(iter_records(batch, pos))
    if len(records) != 1 or records[0].key is None or len(records[0].key) < _KEY.size:
        raise InvalidBatchError(
            ErrorCode.INVALID_RECORD, "a control batch holds exactly one record with a key"
        )
    _version, type_id = _KEY.unpack_from(records[0].key)
    if type_id not in (ControlType.ABORT, ControlType.COMMIT):
        return None
    value = records[0].value
    if value is None or len(value) < _VALUE.size:
        raise InvalidBatchError(ErrorCode.INVALID_RECORD, "end transaction marker without value")
    _version, coordinator_epoch = _VALUE.unpack_from(value)
    return EndTxnMarker(ControlType(type_id), coordinator_epoch)
