"""Leader and follower appends: offsets, epochs, validation that writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.log.batch import crc_is_valid, parse_header, split_batches
from kraft.log.config import LOG_APPEND_TIME, LogConfig
from kraft.log.errors import ErrorCode, UnexpectedAppendOffsetError
from kraft.log.log import AppendOrigin, PartitionLog
from kraft.log.records import Record, build_batch, iter_records
from tests.log.helpers import FakeClock, all_bytes, batches_of, fix_crc, scratch_dir
from tests.strategies import record_batches


def _batch(n: int = 2, ts: int = 1000, **kw: object) -> bytes:
    records = [Record(b"k%d" % i, b"v" * i, (), ts + i) for i in range(n)]
    return build_batch(records, **kw)  # type: ignore[arg-type]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@given(st.lists(record_batches(), min_size=1, max_size=8), st.integers(0, 5))
def test_leader_assigns_consecutive_offsets(batches: list[bytes], epoch: int) -> None:
    """Offsets continue from LEO; stored batches keep the producer's bytes and a valid CRC."""
    with scratch_dir() as d:
        log = PartitionLog.open(d, LogConfig(segment_bytes=2000))
        expected_next = 0
        for batch in batches:
            info = log.append_as_leader(batch, epoch)
            assert info.error_code == ErrorCode.NONE
            assert info.base_offset == expected_next
            expected_next = info.last_offset + 1
            assert log.log_end_offset == expected_next
        stored = batches_of(all_bytes(log))
        assert len(stored) == len(batches)
        next_offset = 0
        for (header, data), original in zip(stored, batches, strict=True):
            assert header.base_offset == next_offset
            assert header.partition_leader_epoch == epoch
            assert crc_is_valid(data, 0, header)
            assert data[17:] == original[17:]
            next_offset = header.last_offset + 1
        assert log.leader_epoch_cache.entries == [(epoch, 0)]
        log.close()


def test_caller_buffer_is_not_modified(tmp_path: Path) -> None:
    """Offset assignment writes a new header prefix; the request buffer stays as sent."""
    log = PartitionLog.open(tmp_path)
    log.append_as_leader(_batch(), 0)
    buf = bytearray(_batch())
    before = bytes(buf)
    info = log.append_as_leader(buf, 0)
    assert info.base_offset == 2 and bytes(buf) == before
    buf.extend(b"x")  # no memoryview export is left behind
    log.close()


def _truncated(b: bytes) -> bytes:
    return b[:-1]


def _bad_crc(b: bytes) -> bytes:
    return b[:-1] + bytes([b[-1] ^ 1])


def _magic(m: int) -> object:
    return lambda b: b[:16] + bytes([m]) + b[17:]


def _count_mismatch(b: bytes) -> bytes:
    buf = bytearray(b)
    buf[57:61] = (5).to_bytes(4, "big")
    return bytes(fix_crc(buf))


REJECTED = {
    "partial-batch": (_truncated, ErrorCode.CORRUPT_MESSAGE),
    "bad-crc": (_bad_crc, ErrorCode.CORRUPT_MESSAGE),
    "magic-1": (_magic(1), ErrorCode.INVALID_RECORD),
    "magic-9": (_magic(9), ErrorCode.CORRUPT_MESSAGE),
    "count-vs-last-offset-delta": (_count_mismatch, ErrorCode.INVALID_RECORD),
    "non-zero-base-offset": (lambda b: (7).to_bytes(8, "big") + b[8:], ErrorCode.INVALID_RECORD),
    "control-batch": (lambda b: _batch(is_control=True), ErrorCode.INVALID_RECORD),
    "empty": (lambda b: b"", ErrorCode.INVALID_RECORD),
    "too-large": (lambda b: _batch(n=300), ErrorCode.MESSAGE_TOO_LARGE),
    "larger-than-segment": (lambda b: _batch() * 50, ErrorCode.RECORD_LIST_TOO_LARGE),
}


@pytest.mark.parametrize("case", REJECTED)
@pytest.mark.parametrize("position", ["only", "last-of-three"])
def test_rejected_append_writes_nothing(tmp_path: Path, case: str, position: str) -> None:
    """Each invalid request gets Kafka's error code and changes no file, LEO or epoch."""
    mutate, code = REJECTED[case]
    config = LogConfig(max_message_bytes=2000, segment_bytes=3000)
    log = PartitionLog.open(tmp_path, config)
    log.append_as_leader(_batch(), 1)
    log.close()
    log = PartitionLog.open(tmp_path, config, recovery_point=2)
    before = _snapshot(tmp_path)
    bad = mutate(_batch())  # type: ignore[operator]
    whole_request = case in ("empty", "larger-than-segment")
    request = bad if position == "only" or whole_request else _batch() * 2 + bad
    info = log.append_as_leader(request, 2)
    assert info.error_code == code, info.error_message
    assert (info.base_offset, info.last_offset) == (-1, -1)
    assert log.log_end_offset == 2
    assert log.leader_epoch_cache.entries == [(1, 0)]
    log.close()
    assert _snapshot(tmp_path) == before


def test_other_origins_may_write_control_batches(tmp_path: Path) -> None:
    """Coordinators and the raft leader append control batches and any base offset."""
    log = PartitionLog.open(tmp_path)
    info = log.append_as_leader(
        _batch(is_control=True, base_offset=99), 3, origin=AppendOrigin.RAFT_LEADER
    )
    assert info.error_code == ErrorCode.NONE and info.base_offset == 0
    assert parse_header(all_bytes(log)).is_control
    log.close()


def test_log_append_time(tmp_path: Path) -> None:
    """With LogAppendTime the broker's clock becomes every record's timestamp."""
    clock = FakeClock(5_000)
    log = PartitionLog.open(
        tmp_path, LogConfig(message_timestamp_type=LOG_APPEND_TIME), clock=clock
    )
    info = log.append_as_leader(_batch(n=3, ts=10), 0)
    assert info.log_append_time == 5_000
    data = all_bytes(log)
    header = parse_header(data)
    assert header.is_log_append_time and crc_is_valid(data, 0, header)
    assert [r.timestamp for r in iter_records(data)] == [5_000] * 3
    assert log.append_as_leader(_batch(), 0).log_append_time == 5_000
    log.close()
    create_time = PartitionLog.open(tmp_path / "other")
    assert create_time.append_as_leader(_batch(), 0).log_append_time == -1
    create_time.close()


def test_new_leader_epoch_starts_at_log_end_offset(tmp_path: Path) -> None:
    """Each new leader epoch is assigned its first offset in the epoch cache."""
    log = PartitionLog.open(tmp_path)
    for epoch in (0, 0, 2, 2, 5):
        log.append_as_leader(_batch(), epoch)
    assert log.leader_epoch_cache.entries == [(0, 0), (2, 4), (5, 8)]
    assert log.end_offset_for_epoch(0) == (0, 4)
    assert log.end_offset_for_epoch(1) == (0, 4)
    assert log.end_offset_for_epoch(5) == (5, 10)
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n3\n0 0\n2 4\n5 8\n"
    log.close()


@given(
    st.lists(st.tuples(record_batches(), st.integers(0, 3)), min_size=1, max_size=8),
    st.integers(1, 200),
)
def test_follower_replicates_leader_bytes(batches: list[tuple[bytes, int]], fetch: int) -> None:
    """A follower fed any fetch sizes (partial tails too) ends byte-identical to the leader."""
    with scratch_dir() as d:
        leader = PartitionLog.open(d / "leader", LogConfig(segment_bytes=1500))
        epoch = 0
        for batch, bump in batches:
            epoch += bump
            leader.append_as_leader(batch, epoch)
        follower = PartitionLog.open(d / "follower", LogConfig(segment_bytes=1500))
        while follower.log_end_offset < leader.log_end_offset:
            data = leader.read(follower.log_end_offset, fetch).to_bytes()
            info = follower.append_as_follower(data)
            assert info.error_code == ErrorCode.NONE
        assert all_bytes(follower) == all_bytes(leader)
        assert follower.leader_epoch_cache.entries == leader.leader_epoch_cache.entries
        leader.close()
        follower.close()


def test_follower_append_must_continue_the_log(tmp_path: Path) -> None:
    """A first batch not at LEO raises UnexpectedAppendOffsetError and writes nothing."""
    log = PartitionLog.open(tmp_path)
    log.append_as_follower(_batch(base_offset=0))
    for base in (0, 1, 5):
        with pytest.raises(UnexpectedAppendOffsetError) as e:
            log.append_as_follower(_batch(base_offset=base))
        assert (e.value.first_offset, e.value.log_end_offset) == (base, 2)
    assert log.log_end_offset == 2
    log.close()


def test_follower_rejects_gaps_and_corruption(tmp_path: Path) -> None:
    """Non-contiguous offsets are INVALID_RECORD and bad CRCs CORRUPT_MESSAGE; nothing written."""
    log = PartitionLog.open(tmp_path)
    gap = _batch(base_offset=0) + _batch(base_offset=3)
    assert log.append_as_follower(gap).error_code == ErrorCode.INVALID_RECORD
    assert log.append_as_follower(_bad_crc(_batch())).error_code == ErrorCode.CORRUPT_MESSAGE
    assert log.log_end_offset == 0 and all_bytes(log) == b""
    empty = log.append_as_follower(_batch()[:30])
    assert empty.error_code == ErrorCode.NONE and empty.num_batches == 0
    log.close()


def test_follower_takes_epochs_from_batches(tmp_path: Path) -> None:
    """Epoch entries come from partitionLeaderEpoch of the replicated batches."""
    log = PartitionLog.open(tmp_path)
    data = b"".join(
        _batch(base_offset=2 * i, partition_leader_epoch=e) for i, e in enumerate([1, 1, 4, 7])
    )
    info = log.append_as_follower(data)
    assert (info.base_offset, info.last_offset, info.num_batches) == (0, 7, 4)
    assert log.leader_epoch_cache.entries == [(1, 0), (4, 4), (7, 6)]
    assert len(split_batches(all_bytes(log))) == 4
    log.close()


def _gzipped(records: list[Record]) -> bytes:
    """The batch of `records` compressed with gzip (codec 1), as a client sends it."""
    from kraft.log.compression import open_records, seal_batch

    plain = build_batch(records)
    header = parse_header(plain)
    gz = header._replace(attributes=header.attributes | 1)
    return seal_batch(gz, open_records(plain, header), None)


@pytest.mark.parametrize("compressed", [False, True])
def test_compacted_log_refuses_records_without_a_key(tmp_path: Path, compressed: bool) -> None:
    """Kafka's LogValidator.validateKey: on a compacted log every record needs a key;
    each keyless one is a RecordError (its index in the batch), nothing is written."""
    directory = tmp_path / "orders-0"
    directory.mkdir()
    log = PartitionLog.open(directory, LogConfig(cleanup_policy="compact"))
    records = [Record(b"k", b"1", (), 1000), Record(None, b"2", (), 1001),
               Record(b"k", b"3", (), 1002), Record(None, b"4", (), 1003)]
    batch = _gzipped(records) if compressed else build_batch(records)
    before = _snapshot(directory)
    info = log.append_as_leader(_batch() + batch, 0)
    assert info.error_code == ErrorCode.INVALID_RECORD
    message = "Compacted topic cannot accept message without key in topic partition orders-0"
    assert info.record_errors == ((1, message), (3, message))
    assert info.error_message == (
        "One or more records have been rejected due to 2 record errors in total, and only "
        f"showing the first three errors at most: [RecordError(batchIndex=1, message='{message}'),"
        f" RecordError(batchIndex=3, message='{message}')]")
    assert log.log_end_offset == 0 and _snapshot(directory) == before
    assert log.append_as_leader(_batch(), 0).error_code == ErrorCode.NONE
    log.close()


def test_keyless_records_are_fine_on_a_delete_log_and_from_replication(tmp_path: Path) -> None:
    """Only client appends to compacted logs are checked; delete-policy logs take keyless
    records, and so does a compacted log written by a coordinator."""
    keyless = build_batch([Record(None, b"v", (), 1000)])
    plain = PartitionLog.open(tmp_path / "a", LogConfig(cleanup_policy="delete"))
    assert plain.append_as_leader(keyless, 0).error_code == ErrorCode.NONE
    plain.close()
    compacted = PartitionLog.open(tmp_path / "b", LogConfig(cleanup_policy="compact"))
    info = compacted.append_as_leader(keyless, 0, origin=AppendOrigin.COORDINATOR)
    assert info.error_code == ErrorCode.NONE
    compacted.close()


@pytest.mark.parametrize("compressed", [False, True])
def test_timestamps_outside_the_topic_bounds_are_refused(tmp_path: Path, compressed: bool) -> None:
    """Kafka's validateTimestamp (KIP-937): with message.timestamp.before.max.ms and
    after.max.ms set, each CreateTime record outside [now - before, now + after] is a
    RecordError with Kafka's message, the append is INVALID_TIMESTAMP, nothing is
    written; timestamps inside the bounds are taken."""
    directory = tmp_path / "events-0"
    directory.mkdir()
    config = LogConfig(message_timestamp_before_max_ms=1000,
                       message_timestamp_after_max_ms=500)
    log = PartitionLog.open(directory, config, clock=lambda: 10_000)
    records = [Record(b"k", b"old", (), 8_999), Record(b"k", b"ok", (), 9_000),
               Record(b"k", b"ok", (), 10_500), Record(b"k", b"new", (), 10_501)]
    batch = _gzipped(records) if compressed else build_batch(records)
    before = _snapshot(directory)
    info = log.append_as_leader(batch, 0)
    assert info.error_code == ErrorCode.INVALID_TIMESTAMP
    assert info.error_message == "One or more records have been rejected due to invalid timestamp"
    assert info.record_errors == (
        (0, "Timestamp 8999 of message with offset 0 is out of range. The timestamp should be "
            "within [9000, 10500]"),
        (3, "Timestamp 10501 of message with offset 3 is out of range. The timestamp should be "
            "within [9000, 10500]"))
    assert log.log_end_offset == 0 and _snapshot(directory) == before
    fine = build_batch([Record(b"k", b"ok", (), 9_000), Record(b"k", b"ok", (), 10_500)])
    assert log.append_as_leader(fine, 0).error_code == ErrorCode.NONE
    log.close()


@pytest.mark.parametrize("compressed", [False, True])
def test_kafka_4_default_refuses_records_more_than_an_hour_ahead(
    tmp_path: Path, compressed: bool
) -> None:
    """With Kafka 4's defaults (after.max.ms one hour, no lower bound) a record
    stamped more than an hour after the broker's clock is refused wherever it sits
    in its batch, and old or near-future records are taken."""
    directory = tmp_path / "events-0"
    directory.mkdir()
    hour = 3_600_000
    log = PartitionLog.open(directory, LogConfig(), clock=lambda: 10 * hour)
    ahead = [Record(b"k", b"ok", (), 5), Record(b"k", b"far", (), 11 * hour + 1),
             Record(b"k", b"ok", (), 10 * hour)]
    batch = _gzipped(ahead) if compressed else build_batch(ahead)
    info = log.append_as_leader(batch, 0)
    assert info.error_code == ErrorCode.INVALID_TIMESTAMP
    assert [index for index, _ in info.record_errors] == [1]
    within = [Record(b"k", b"old", (), 5), Record(b"k", b"soon", (), 11 * hour)]
    batch = _gzipped(within) if compressed else build_batch(within)
    assert log.append_as_leader(batch, 0).error_code == ErrorCode.NONE
    assert log.log_end_offset == 2
    log.close()
