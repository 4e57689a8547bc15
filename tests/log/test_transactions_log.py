"""Transaction markers (log.control) and the aborted-transaction index (log.txnindex)."""

from __future__ import annotations

import struct
from pathlib import Path

from kraft.log.batch import CONTROL_FLAG, TRANSACTIONAL_FLAG, parse_header, validate_batches
from kraft.log.config import LogConfig
from kraft.log.control import ControlType, build_end_txn_marker, read_end_txn_marker
from kraft.log.errors import ErrorCode
from kraft.log.log import PartitionLog
from kraft.log.records import Record, build_batch, iter_records
from kraft.log.results import AppendOrigin
from kraft.log.txnindex import ENTRY_SIZE, AbortedTxn, TransactionIndex


def test_marker_is_kafkas_control_batch() -> None:
    """A marker is a transactional control batch of one record: key (version 0, type),
    value (version 0, coordinator epoch), base sequence -1, as Kafka writes it."""
    batch = build_end_txn_marker(producer_id=7, producer_epoch=3, coordinator_epoch=5,
                                 commit=True, timestamp=1234)
    header = parse_header(batch)
    assert header.attributes == TRANSACTIONAL_FLAG | CONTROL_FLAG
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, -1)
    assert header.records_count == 1 and header.max_timestamp == 1234
    (record,) = iter_records(batch)
    assert record.key == struct.pack(">hh", 0, 1)
    assert record.value == struct.pack(">hi", 0, 5)
    assert read_end_txn_marker(batch) == (ControlType.COMMIT, 5)
    abort = build_end_txn_marker(producer_id=7, producer_epoch=3, coordinator_epoch=0,
                                 commit=False, timestamp=1)
    assert read_end_txn_marker(abort) == (ControlType.ABORT, 0)


def test_clients_cannot_write_markers_but_the_coordinator_can(tmp_path: Path) -> None:
    """A control batch from a client is INVALID_RECORD; with the coordinator's origin
    it is appended."""
    log = PartitionLog.open(tmp_path, LogConfig())
    marker = build_end_txn_marker(producer_id=1, producer_epoch=0, coordinator_epoch=0,
                                  commit=False, timestamp=1)
    refused = log.append_as_leader(marker, 0)
    assert refused.error_code == ErrorCode.INVALID_RECORD and log.log_end_offset == 0
    done = log.append_as_leader(marker, 0, origin=AppendOrigin.COORDINATOR)
    assert done.error_code == ErrorCode.NONE and log.log_end_offset == 1
    assert validate_batches(log.read(0, 1 << 20).to_bytes(), max_message_bytes=None,
                            client=False)


def test_txnindex_entries_are_kafkas_34_bytes(tmp_path: Path) -> None:
    """Each entry is version i16 0, producer id, first, last and last stable offset
    (i64 big-endian); the file exists only once there is an entry."""
    index = TransactionIndex(tmp_path / "00000000000000000000.txnindex", 0)
    assert not index.path.exists()
    assert index.append(AbortedTxn(9, 10, 20, 21))
    assert ENTRY_SIZE == 34
    assert index.path.read_bytes() == struct.pack(">hqqqq", 0, 9, 10, 20, 21)
    assert not index.append(AbortedTxn(9, 10, 20, 21)), "a replayed entry is not added twice"
    assert TransactionIndex(index.path, 0).entries == [AbortedTxn(9, 10, 20, 21)]


def test_txnindex_collect_and_truncate(tmp_path: Path) -> None:
    """collect returns entries overlapping [fetch, upper) and stops at an entry whose
    last stable offset reaches upper; truncate drops markers at or above the offset;
    a torn tail entry is dropped on reading."""
    index = TransactionIndex(tmp_path / "00000000000000000000.txnindex", 0)
    index.append(AbortedTxn(1, 0, 5, 6))
    index.append(AbortedTxn(2, 3, 9, 10))
    index.append(AbortedTxn(3, 12, 15, 16))
    assert index.collect(6, 20) == ([AbortedTxn(2, 3, 9, 10), AbortedTxn(3, 12, 15, 16)], False)
    assert index.collect(6, 12) == ([AbortedTxn(2, 3, 9, 10)], True)
    assert index.collect(0, 8) == ([AbortedTxn(1, 0, 5, 6), AbortedTxn(2, 3, 9, 10)], True)
    index.truncate_to(9)
    assert TransactionIndex(index.path, 0).entries == [AbortedTxn(1, 0, 5, 6)]
    with open(index.path, "ab") as f:
        f.write(b"\x00" * 10)
    reread = TransactionIndex(index.path, 0)
    assert reread.entries == [AbortedTxn(1, 0, 5, 6)]
    assert index.path.stat().st_size == ENTRY_SIZE


def test_log_indexes_aborts_per_segment_and_collects_across_segments(tmp_path: Path) -> None:
    """An entry goes to the segment holding its marker; a read_committed lookup walks
    from the fetch offset's segment on; truncation and segment deletion take the
    entries with them, and a reopened log keeps the others."""
    log = PartitionLog.open(tmp_path, LogConfig())
    data = build_batch([Record(None, b"x", timestamp=1)] * 3)
    log.append_as_leader(data, 0)  # 0-2
    log.roll()
    log.append_as_leader(data, 0)  # 3-5
    assert log.append_aborted_txn(AbortedTxn(1, 0, 4, 5))
    assert not log.append_aborted_txn(AbortedTxn(1, 0, 9, 10)), "beyond the log end"
    assert (tmp_path / "00000000000000000003.txnindex").exists()
    assert log.collect_aborted_txns(0, 6) == [AbortedTxn(1, 0, 4, 5)]
    assert log.collect_aborted_txns(5, 6) == []
    log.close()
    reopened = PartitionLog.open(tmp_path, LogConfig(), recovery_point=6)
    assert reopened.collect_aborted_txns(0, 6) == [AbortedTxn(1, 0, 4, 5)]
    reopened.truncate_to(4)
    assert reopened.collect_aborted_txns(0, 6) == []
    reopened.truncate_to(2)
    assert not (tmp_path / "00000000000000000003.txnindex").exists()


def test_compaction_keeps_the_aborted_transaction_index(tmp_path: Path) -> None:
    """Cleaning segments moves their aborted-transaction entries to the replacement
    segment, so a read_committed lookup still finds them."""
    from kraft.log.cleaner import PartitionCleaner

    log = PartitionLog.open(tmp_path, LogConfig(cleanup_policy="compact", segment_bytes=300))
    for i in range(6):
        batch = build_batch([Record(b"k%d" % (i % 2), b"v%d" % i, timestamp=1)],
                            producer_id=4, producer_epoch=0, base_sequence=i,
                            is_transactional=True)
        log.append_as_leader(batch, 0)
    marker = build_end_txn_marker(producer_id=4, producer_epoch=0, coordinator_epoch=0,
                                  commit=False, timestamp=1)
    info = log.append_as_leader(marker, 0, origin=AppendOrigin.COORDINATOR)
    assert log.append_aborted_txn(AbortedTxn(4, 0, info.base_offset, info.base_offset + 1))
    log.roll()
    log.update_high_watermark(log.log_end_offset)
    before = log.collect_aborted_txns(0, log.log_end_offset)
    assert before
    result = PartitionCleaner(log).clean(log.log_end_offset, force=True)
    assert result is not None and result.segments_replaced > 1 and result.records_removed > 0
    assert log.collect_aborted_txns(0, log.log_end_offset) == before
