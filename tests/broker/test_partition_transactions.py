"""Transactions on one partition: ongoing transactions, markers, the last stable
offset, the aborted-transaction index, and their recovery (KIP-98)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from kio.schema.errors import ErrorCode

from kraft.broker.partition import Partition
from kraft.broker.producer_state import NOT_REQUIRED, NotRequired, VerificationGuard
from kraft.log.config import LogConfig
from kraft.log.records import Record, build_batch
from kraft.log.txnindex import AbortedTxn
from kraft.metadata.image import PartitionRegistration

TOPIC_ID = uuid.UUID(int=9)


def leader(directory: Path, isr: tuple[int, ...] = (1,), **kwargs: int) -> Partition:
    partition = Partition.open(directory, "t", 0, TOPIC_ID, LogConfig(), 1, **kwargs)
    partition.make_leader(PartitionRegistration(replicas=(1, 2), isr=isr, leader=1,
                                                leader_epoch=0, partition_epoch=0), now_ms=0)
    return partition


def send(partition: Partition, producer_id: int, sequence: int, n: int = 2, *,
         transactional: bool = True, epoch: int = 0,
         verification: VerificationGuard | NotRequired | None = NOT_REQUIRED,
         ) -> tuple[int, ErrorCode]:
    """Append `n` records of one producer batch; (base offset, error)."""
    batch = build_batch([Record(None, b"v%d" % i, timestamp=5) for i in range(n)],
                        producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                        is_transactional=transactional)
    info = partition.append_as_leader(memoryview(batch), verification=verification).info
    return info.base_offset, ErrorCode(int(info.error_code))


def end(partition: Partition, producer_id: int, commit: bool, *, epoch: int = 0,
        coordinator_epoch: int = 0) -> tuple[int, ErrorCode]:
    info = partition.append_marker(producer_id, epoch, coordinator_epoch, commit, 7)
    return info.base_offset, ErrorCode(int(info.error_code))


def test_last_stable_offset_stops_at_the_oldest_open_transaction(tmp_path: Path) -> None:
    """While a transaction is open the LSO stays at its first offset; after its marker
    it moves on only once the high watermark has passed the marker."""
    p = leader(tmp_path)
    assert send(p, 1, 0, transactional=False) == (0, ErrorCode.none)
    assert p.last_stable_offset == p.high_watermark == 2
    assert send(p, 2, 0) == (2, ErrorCode.none)
    assert send(p, 3, 0) == (4, ErrorCode.none)
    assert p.high_watermark == 6 and p.last_stable_offset == 2
    assert end(p, 2, commit=True) == (6, ErrorCode.none)
    assert p.last_stable_offset == 4, "producer 3's transaction is still open"
    assert end(p, 3, commit=False) == (7, ErrorCode.none)
    assert p.last_stable_offset == p.high_watermark == 8
    assert p.read(0, 1 << 20, min_one_message=True, read_committed=True).size == (
        p.read(0, 1 << 20, min_one_message=True).size)
    # Only the abort is indexed, with the LSO it left behind.
    assert p.collect_aborted_txns(0, 8) == [AbortedTxn(3, 4, 7, 8)]


def test_a_marker_holds_the_lso_until_replicated(tmp_path: Path) -> None:
    """With a follower in the ISR, a decided transaction stays unstable until the high
    watermark passes its marker (its marker could still be truncated away)."""
    p = leader(tmp_path, isr=(1, 2))
    send(p, 2, 0)
    p.update_follower_fetch_state(2, 2, now_ms=1)
    assert (p.high_watermark, p.last_stable_offset) == (2, 0)
    end(p, 2, commit=True)
    p.update_follower_fetch_state(2, 3, now_ms=2)
    assert (p.high_watermark, p.last_stable_offset) == (3, 3)
    read = p.read(0, 1 << 20, min_one_message=True, read_committed=True)
    assert read.size == p.read(0, 1 << 20, min_one_message=True).size


def test_read_committed_reads_stop_at_the_lso(tmp_path: Path) -> None:
    """A read_committed read returns no batch at or above the last stable offset."""
    p = leader(tmp_path)
    send(p, 1, 0, transactional=False)
    send(p, 2, 0)
    committed = p.read(0, 1 << 20, min_one_message=True, read_committed=True)
    uncommitted = p.read(0, 1 << 20, min_one_message=True)
    assert 0 < committed.size < uncommitted.size
    assert p.read(2, 1 << 20, min_one_message=True, read_committed=True).size == 0


def test_transactional_rules_for_produce_and_markers(tmp_path: Path) -> None:
    """A non-transactional batch during an open transaction is INVALID_TXN_STATE; a
    marker with an older producer epoch is INVALID_PRODUCER_EPOCH, with an older
    coordinator epoch TRANSACTION_COORDINATOR_FENCED; none of them writes anything."""
    p = leader(tmp_path)
    send(p, 1, 0, epoch=1)
    leo = p.log_end_offset
    assert send(p, 1, 2, transactional=False, epoch=1)[1] == ErrorCode.invalid_txn_state
    assert end(p, 1, commit=True, epoch=0)[1] == ErrorCode.invalid_producer_epoch
    assert end(p, 1, commit=True, epoch=1, coordinator_epoch=3)[1] == ErrorCode.none
    send(p, 1, 2, epoch=1)
    assert end(p, 1, commit=False, epoch=1, coordinator_epoch=2)[1] == (
        ErrorCode.transaction_coordinator_fenced)
    assert p.log_end_offset == leo + 3
    assert p.producer_state.entry(1).current_txn_first_offset == leo + 1


def test_marker_with_a_bumped_epoch_restarts_sequences(tmp_path: Path) -> None:
    """A marker at a new epoch (the coordinator aborting a previous incarnation)
    ends the transaction, and the producer then starts at sequence 0."""
    p = leader(tmp_path)
    send(p, 1, 0)
    assert end(p, 1, commit=False, epoch=1)[1] == ErrorCode.none
    assert send(p, 1, 5, epoch=1)[1] == ErrorCode.out_of_order_sequence_number
    assert send(p, 1, 0, epoch=1)[1] == ErrorCode.none


def test_open_transactions_and_aborts_survive_restart_and_recovery(tmp_path: Path) -> None:
    """After a clean restart the open transaction still holds the LSO (from the
    snapshot); after a crash whose txnindex was lost, recovery rebuilds it."""
    p = leader(tmp_path)
    send(p, 1, 0)
    send(p, 2, 0)
    end(p, 1, commit=False)
    p.log.flush()
    p.producer_state.take_snapshot(p.log_end_offset)
    p.close()
    again = leader(tmp_path, recovery_point=5, high_watermark=5)
    assert again.last_stable_offset == 2
    assert again.collect_aborted_txns(0, 5) == [AbortedTxn(1, 0, 4, 2)]
    end(again, 2, commit=False)
    assert again.collect_aborted_txns(0, 6) == [AbortedTxn(1, 0, 4, 2), AbortedTxn(2, 2, 5, 6)]
    again.log.close()
    # A crash: the txnindex and the newest snapshot are lost, nothing was flushed.
    for name in os.listdir(tmp_path):
        if name.endswith((".txnindex", ".snapshot")):
            os.unlink(tmp_path / name)
    crashed = leader(tmp_path, recovery_point=0, high_watermark=6)
    assert crashed.collect_aborted_txns(0, 6) == [
        AbortedTxn(1, 0, 4, 2), AbortedTxn(2, 2, 5, 6)]
    assert crashed.last_stable_offset == 6
    crashed.close()


def test_follower_indexes_aborts_it_replicates(tmp_path: Path) -> None:
    """Markers copied by a follower end transactions and index the aborted ones, and
    truncation below a marker reopens its transaction."""
    p = leader(tmp_path / "leader")
    send(p, 1, 0)
    end(p, 1, commit=False)
    send(p, 2, 0)
    end(p, 2, commit=True)
    f = Partition.open(tmp_path / "follower", "t", 0, TOPIC_ID, LogConfig(), 2)
    f.make_follower(PartitionRegistration(replicas=(1, 2), isr=(1,), leader=1, leader_epoch=0,
                                          partition_epoch=0))
    f.append_as_follower(memoryview(p.log.read(0, 1 << 20).to_bytes()))
    f.update_follower_high_watermark(6)
    assert f.collect_aborted_txns(0, 6) == [AbortedTxn(1, 0, 2, 3)]
    assert f.last_stable_offset == 6
    f.truncate_to(5)
    assert f.last_stable_offset == 3, "producer 2's transaction is open again"
    f.close()
    p.close()


def test_verification_guards_the_first_batch_of_a_transaction(tmp_path: Path) -> None:
    """KIP-890: a batch that begins a transaction needs the guard it was verified
    with; later batches of the ongoing transaction need none; a guard handed out
    before the transaction's marker cannot begin the next transaction (the delayed
    produce of KAFKA-17754), and a fresh verification can."""
    p = leader(tmp_path)
    state = p.producer_state
    assert send(p, 1, 0, verification=None) == (-1, ErrorCode.invalid_txn_state)
    guard = state.start_verification(1, 0)
    assert guard is not None and state.start_verification(1, 0) is guard
    assert send(p, 1, 0, verification=VerificationGuard()) == (-1, ErrorCode.invalid_txn_state)
    assert send(p, 1, 0, verification=guard) == (0, ErrorCode.none)
    assert state.start_verification(1, 0) is None, "ongoing here: nothing to verify"
    assert send(p, 1, 2, verification=None) == (2, ErrorCode.none)
    delayed = state.start_verification(1, 0)
    assert delayed is None
    # A verification started while the transaction was ongoing elsewhere, then its
    # marker lands here before the append: the guard no longer counts.
    assert end(p, 1, commit=True) == (4, ErrorCode.none)
    stale = state.start_verification(1, 0)
    assert end(p, 1, commit=False) == (5, ErrorCode.none)
    assert send(p, 1, 4, verification=stale) == (-1, ErrorCode.invalid_txn_state)
    fresh = state.start_verification(1, 0)
    assert send(p, 1, 4, verification=fresh) == (6, ErrorCode.none)
    # A non-transactional produce or an unverified path (NOT_REQUIRED) is unaffected.
    assert send(p, 2, 0, transactional=False, verification=None) == (8, ErrorCode.none)


def test_a_newer_epoch_does_not_join_the_ongoing_transaction(tmp_path: Path) -> None:
    """Transaction version 2: a batch of the next transaction (epoch + 1) arriving
    before the previous transaction's marker needs its own verification; without it
    it is refused instead of joining the open transaction."""
    p = leader(tmp_path)
    state = p.producer_state
    guard = state.start_verification(1, 0)
    assert send(p, 1, 0, verification=guard) == (0, ErrorCode.none)
    assert state.start_verification(1, 0) is None
    assert send(p, 1, 0, epoch=1, verification=None) == (-1, ErrorCode.invalid_txn_state)
    assert state.start_verification(1, 1) is not None
    assert end(p, 1, commit=True, epoch=1) == (2, ErrorCode.none)
    assert send(p, 1, 0, epoch=1, verification=state.start_verification(1, 1)) == (
        3, ErrorCode.none)
