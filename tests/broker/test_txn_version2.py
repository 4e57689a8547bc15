"""The transaction coordinator's EndTxn under transaction version 2 (KIP-890
part 2), with writes applied at once (no log): epoch bumps, retries, fencing,
empty transactions and producer id rotation on epoch exhaustion; and the
flexible `__transaction_state` value Kafka writes from transaction version 1."""

from __future__ import annotations

import struct
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.txn.coordinator import TransactionCoordinator
from kraft.broker.txn.metadata import MAX_EPOCH, TransactionMetadata, TxnState, TxnTransit
from kraft.broker.txn.records import TxnLogValue, decode_value, encode_value, value_version

TP = ("t", 0)
NEW_ID = 99


class _Shard:
    def __init__(self) -> None:
        self.transactions: dict[str, TransactionMetadata] = {}
        self.is_current = True


def _coordinator(meta: TransactionMetadata) -> TransactionCoordinator:
    """A coordinator whose writes are committed at once, holding `meta`."""
    shard = _Shard()
    shard.transactions[meta.transactional_id] = meta
    coordinator = TransactionCoordinator.__new__(TransactionCoordinator)
    coordinator.node_id = 1
    coordinator.clock = lambda: 1000

    def route(transactional_id: str) -> tuple[Any, ErrorCode]:
        return shard, ErrorCode.none

    async def write(shard: Any, meta: TransactionMetadata, transit: TxnTransit) -> ErrorCode:
        meta.complete(transit)
        return ErrorCode.none

    async def new_id() -> int:
        return NEW_ID

    coordinator.route = route  # type: ignore[method-assign]
    coordinator._write_and_wait = write  # type: ignore[method-assign]
    coordinator._new_producer_id = new_id  # type: ignore[method-assign]
    return coordinator


def _ongoing(epoch: int, client_tv: int = 2) -> TransactionMetadata:
    return TransactionMetadata("x", 7, -1, epoch, epoch - 1, 60000, TxnState.ONGOING, {TP},
                               10, 10, client_tv=client_tv)


async def test_end_txn_v5_bumps_the_epoch_and_recognises_its_retry() -> None:
    """EndTxn v5 answers the bumped epoch; while the markers are written the same
    request, or the next transaction's end, is CONCURRENT_TRANSACTIONS; once complete
    the retry with the old epoch is NONE with the new one, the opposite outcome
    INVALID_TXN_STATE, another epoch PRODUCER_FENCED, another id
    INVALID_PRODUCER_ID_MAPPING."""
    meta = _ongoing(3)
    c = _coordinator(meta)
    assert await c.end_txn("x", 7, 3, True, client_tv=2) == (ErrorCode.none, 7, 4)
    assert (meta.state, meta.producer_epoch, meta.partitions) == (
        TxnState.PREPARE_COMMIT, 4, {TP})
    assert (await c.end_txn("x", 7, 3, True, client_tv=2))[0] == ErrorCode.concurrent_transactions
    assert (await c.end_txn("x", 7, 4, False, client_tv=2))[0] == (
        ErrorCode.concurrent_transactions)
    meta.complete(meta.prepare_complete(20))
    assert await c.end_txn("x", 7, 3, True, client_tv=2) == (ErrorCode.none, 7, 4)
    assert (await c.end_txn("x", 7, 3, False, client_tv=2))[0] == ErrorCode.invalid_txn_state
    assert (await c.end_txn("x", 7, 2, True, client_tv=2))[0] == ErrorCode.producer_fenced
    assert (await c.end_txn("x", 7, 6, True, client_tv=2))[0] == ErrorCode.producer_fenced
    assert (await c.end_txn("x", 8, 4, True, client_tv=2))[0] == (
        ErrorCode.invalid_producer_id_mapping)


async def test_an_empty_transaction_still_bumps_the_epoch() -> None:
    """A version 2 end at the current epoch with nothing added (Complete state) goes
    through Prepare with no partitions and bumps the epoch."""
    meta = TransactionMetadata("x", 7, -1, 4, 3, 60000, TxnState.COMPLETE_COMMIT,
                               client_tv=2)
    c = _coordinator(meta)
    assert await c.end_txn("x", 7, 4, False, client_tv=2) == (ErrorCode.none, 7, 5)
    assert (meta.state, meta.partitions) == (TxnState.PREPARE_ABORT, set())


async def test_version_1_ends_keep_the_epoch() -> None:
    """EndTxn before v5 (transaction version 1) neither bumps the epoch nor accepts
    the previous one."""
    meta = _ongoing(3, client_tv=0)
    c = _coordinator(meta)
    assert await c.end_txn("x", 7, 3, True) == (ErrorCode.none, 7, 3)
    meta.complete(meta.prepare_complete(20))
    assert await c.end_txn("x", 7, 3, True) == (ErrorCode.none, 7, 3)
    assert (await c.end_txn("x", 7, 2, True))[0] == ErrorCode.producer_fenced


async def test_an_exhausted_epoch_rotates_the_producer_id() -> None:
    """At the last usable epoch the end allocates a new producer id: the markers keep
    the old id at the maximum epoch, the answer (and, once complete, the state) is
    the new id at epoch 0, and a retry with the old id and epoch gets the same."""
    meta = _ongoing(MAX_EPOCH - 1)
    c = _coordinator(meta)
    assert await c.end_txn("x", 7, MAX_EPOCH - 1, True, client_tv=2) == (
        ErrorCode.none, NEW_ID, 0)
    assert (meta.producer_id, meta.producer_epoch, meta.next_producer_id) == (
        7, MAX_EPOCH, NEW_ID)
    meta.complete(meta.prepare_complete(20))
    assert (meta.producer_id, meta.producer_epoch, meta.last_producer_id) == (NEW_ID, 0, 7)
    assert await c.end_txn("x", 7, MAX_EPOCH - 1, True, client_tv=2) == (
        ErrorCode.none, NEW_ID, 0)


def test_flexible_value_carries_the_tags() -> None:
    """From transaction version 1 the value is version 1: compact arrays, and the
    previous/next producer id and client transaction version as tags 0, 1, 2; an
    Empty state has null partitions. Both versions round-trip."""
    value = TxnLogValue(7, 4, 60000, int(TxnState.PREPARE_COMMIT), (("a", 5),), 10, 9,
                        previous_producer_id=6, next_producer_id=99,
                        client_transaction_version=2)
    assert value_version(0) == 0 and value_version(2) == 1
    data = encode_value(value, 1)
    assert data == (struct.pack(">hqhib", 1, 7, 4, 60000, 2) + bytes([2])
                    + bytes([2]) + b"a" + bytes([2]) + struct.pack(">i", 5) + bytes([0])
                    + struct.pack(">qq", 10, 9) + bytes([3])
                    + bytes([0, 8]) + struct.pack(">q", 6)
                    + bytes([1, 8]) + struct.pack(">q", 99)
                    + bytes([2, 2]) + struct.pack(">h", 2))
    assert decode_value(data) == value
    empty = TxnLogValue(7, 4, 60000, int(TxnState.EMPTY), (), 10, -1)
    assert encode_value(empty, 1)[17] == 0  # null compact array
    assert encode_value(empty, 0)[17:21] == struct.pack(">i", -1)
    assert decode_value(encode_value(empty, 1)) == decode_value(encode_value(empty, 0)) == empty


def test_a_prepared_rotation_survives_failover() -> None:
    """A PrepareCommit written with a next producer id (epoch exhausted) reloads from
    its record with that id and the client transaction version, so the new
    coordinator completes it onto the new id at epoch 0."""
    meta = _ongoing(MAX_EPOCH - 1)
    transit = meta.prepare_end(True, 30, client_tv=2, next_producer_id=NEW_ID)
    record = encode_value(transit.to_value(), value_version(2))
    loaded = TransactionMetadata.from_value("x", decode_value(record))
    assert (loaded.state, loaded.producer_epoch, loaded.next_producer_id, loaded.client_tv) == (
        TxnState.PREPARE_COMMIT, MAX_EPOCH, NEW_ID, 2)
    loaded.complete(loaded.prepare_complete(40))
    assert (loaded.state, loaded.producer_id, loaded.producer_epoch, loaded.last_producer_id) == (
        TxnState.COMPLETE_COMMIT, NEW_ID, 0, 7)
