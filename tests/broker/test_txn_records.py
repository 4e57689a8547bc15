"""`__transaction_state` records (Kafka's TransactionLogKey/Value) and the
transaction state transitions."""

from __future__ import annotations

import struct

import pytest

from kraft.broker.txn.metadata import TransactionMetadata, TxnState
from kraft.broker.txn.records import (
    TxnLogValue,
    TxnRecordError,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)


def test_key_is_kafkas_layout() -> None:
    """A key is version 0 then the transactional id as an int16-length string."""
    assert encode_key("tx") == struct.pack(">hh", 0, 2) + b"tx"
    assert decode_key(encode_key("tx-é")) == "tx-é"
    with pytest.raises(TxnRecordError):
        decode_key(struct.pack(">hh", 1, 2) + b"tx")


def test_value_v0_is_kafkas_layout() -> None:
    """A value v0 is producerId, epoch, timeout, status, partitions by topic, last
    update and start timestamps, as Kafka's TransactionLogValue; it round-trips."""
    value = TxnLogValue(7, 3, 60000, int(TxnState.ONGOING),
                        (("a", 0), ("a", 2), ("b", 1)), 1000, 900)
    data = encode_value(value)
    expected = (struct.pack(">hqhib", 0, 7, 3, 60000, 1) + struct.pack(">i", 2)
                + struct.pack(">h", 1) + b"a" + struct.pack(">iii", 2, 0, 2)
                + struct.pack(">h", 1) + b"b" + struct.pack(">ii", 1, 1)
                + struct.pack(">qq", 1000, 900))
    assert data == expected
    assert decode_value(data) == value


def test_value_v1_flexible_is_read() -> None:
    """A flexible v1 value (compact arrays, tagged previous/next producer id) reads."""
    data = (struct.pack(">hqhib", 1, 7, 3, 60000, 4) + bytes([2])  # one topic
            + bytes([2]) + b"a" + bytes([2]) + struct.pack(">i", 5) + bytes([0])
            + struct.pack(">qq", 10, 9)
            + bytes([1, 0, 8]) + struct.pack(">q", 6))  # tag 0: previous producer id
    value = decode_value(data)
    assert value.partitions == (("a", 5),) and value.previous_producer_id == 6
    assert (value.status, value.last_update_ms, value.start_ms) == (4, 10, 9)
    with pytest.raises(TxnRecordError):
        decode_value(data[:-3])


def test_transitions_are_applied_only_when_completed() -> None:
    """prepare_* marks the change pending without applying it; complete applies it,
    abort_pending drops it; a fence bumps the epoch and keeps the last one."""
    meta = TransactionMetadata("t", 5, -1, -1, -1, 1000, TxnState.EMPTY)
    init = meta.prepare_init(1000, 1, None)
    assert meta.pending is init and meta.producer_epoch == -1
    meta.complete(init)
    assert (meta.producer_epoch, meta.pending) == (0, None)
    add = meta.prepare_add_partitions({("a", 0)}, 5)
    meta.abort_pending(add)
    assert meta.state is TxnState.EMPTY and not meta.partitions
    meta.complete(meta.prepare_add_partitions({("a", 0)}, 5))
    assert (meta.state, meta.start_ms) == (TxnState.ONGOING, 5)
    meta.complete(meta.prepare_end(False, 9, bump_epoch=True))
    assert (meta.state, meta.producer_epoch, meta.last_producer_epoch) == (
        TxnState.PREPARE_ABORT, 1, 0)
    meta.complete(meta.prepare_complete(10))
    assert meta.state is TxnState.COMPLETE_ABORT and not meta.partitions
    assert TransactionMetadata.from_value("t", decode_value(encode_value(
        meta.prepare_init(1000, 11, None).to_value()))).producer_epoch == 2
