"""Record batch v2: framing, records, header rewrites, validation error codes."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.records.readers import read_batch

from kraft.log.batch import (
    CRC_OFFSET,
    HEADER_SIZE,
    crc_is_valid,
    header_prefix,
    iter_batches,
    log_append_time_header,
    parse_header,
    rewrite_in_place,
    set_log_append_time_in_place,
    split_batches,
    validate_batches,
)
from kraft.log.errors import ErrorCode, InvalidBatchError
from kraft.log.records import Record, build_batch, decode_varint, encode_varint, iter_records
from tests.log.helpers import fix_crc
from tests.strategies import BatchSpec, batch_specs, record_batches, record_lists


def _validate(
    data: bytes | bytearray, *, client: bool, max_message_bytes: int | None = 1048588
) -> ErrorCode:
    try:
        validate_batches(data, max_message_bytes=max_message_bytes, client=client)
    except InvalidBatchError as e:
        return e.error_code
    return ErrorCode.NONE


@given(batch_specs())
def test_build_then_parse_round_trips(spec: BatchSpec) -> None:
    """Every header field and every record survive build -> parse."""
    data = spec.build()
    header = parse_header(data)
    assert header.size == len(data)
    assert header.magic == 2
    assert crc_is_valid(data, 0, header)
    assert header.base_offset == spec.base_offset
    assert header.partition_leader_epoch == spec.partition_leader_epoch
    assert header.producer_id == spec.producer_id
    assert header.producer_epoch == spec.producer_epoch
    assert header.base_sequence == spec.base_sequence
    assert header.is_transactional == spec.is_transactional
    assert header.is_control == spec.is_control
    assert header.records_count == len(spec.records) == header.last_offset_delta + 1
    assert header.base_timestamp == spec.records[0].timestamp
    assert header.max_timestamp == max(r.timestamp for r in spec.records)
    decoded = list(iter_records(data))
    assert [r.offset for r in decoded] == [spec.base_offset + i for i in range(len(spec.records))]
    assert [(r.key, r.value, r.headers, r.timestamp) for r in decoded] == [
        (r.key, r.value, r.headers, r.timestamp) for r in spec.records
    ]


@given(batch_specs())
def test_kio_reads_what_we_build(spec: BatchSpec) -> None:
    """An independent decoder (kio) accepts our batches, CRC included, with equal records."""
    # kio cannot represent NO_TIMESTAMP (-1); give those records a real time.
    spec = dataclasses.replace(
        spec,
        records=tuple(dataclasses.replace(r, timestamp=abs(r.timestamp)) for r in spec.records),
    )
    batch, size = read_batch(spec.build(), 0)
    assert size == len(spec.build())
    assert [(r.key, r.value) for r in batch.records] == [(r.key, r.value) for r in spec.records]
    assert [tuple((h.key, h.value) for h in r.headers) for r in batch.records] == [
        tuple((k.encode(), v) for k, v in r.headers) for r in spec.records
    ]


def test_header_layout_is_kafkas() -> None:
    """Field offsets and widths match Kafka's DefaultRecordBatch constants."""
    data = build_batch([Record(b"k", b"v", (), 5)], base_offset=7, partition_leader_epoch=3)
    assert HEADER_SIZE == 61
    assert struct.unpack_from(">q", data, 0)[0] == 7
    assert struct.unpack_from(">i", data, 8)[0] == len(data) - 12
    assert struct.unpack_from(">i", data, 12)[0] == 3
    assert data[16] == 2
    assert struct.unpack_from(">i", data, 57)[0] == 1


def test_varint_known_values() -> None:
    """Zigzag varints encode as in Kafka's ByteUtils (0, -1, 1, 300, -2**31, 2**63-1)."""
    cases = {
        0: b"\x00",
        -1: b"\x01",
        1: b"\x02",
        300: b"\xd8\x04",
        -(2**31): b"\xff\xff\xff\xff\x0f",
    }
    for value, encoded in cases.items():
        out = bytearray()
        encode_varint(value, out)
        assert bytes(out) == encoded
        assert decode_varint(encoded, 0, len(encoded)) == (value, len(encoded))


@given(st.integers(-(2**63), 2**63 - 1))
def test_varint_round_trips(value: int) -> None:
    """decode(encode(v)) == v over the whole i64 range."""
    out = bytearray()
    encode_varint(value, out)
    assert decode_varint(out, 0, len(out)) == (value, len(out))


@given(record_batches(), st.integers(0, 2**62), st.integers(-1, 2**31 - 1))
def test_rewrite_in_place_keeps_crc_valid(data: bytes, base: int, epoch: int) -> None:
    """Rewriting baseOffset and partitionLeaderEpoch leaves the CRC valid and records intact."""
    buf = bytearray(data)
    rewrite_in_place(buf, 0, base, epoch)
    header = parse_header(buf)
    assert (header.base_offset, header.partition_leader_epoch) == (base, epoch)
    assert crc_is_valid(buf, 0, header)
    assert buf[17:] == data[17:]
    assert [r.offset - base for r in iter_records(buf)] == [r.offset for r in iter_records(data)]


@given(record_batches(), st.integers(0, 2**62), st.integers(-1, 2**31 - 1))
def test_header_prefix_equals_in_place_rewrite(data: bytes, base: int, epoch: int) -> None:
    """prefix + original bytes 17.. is byte-identical to rewriting in place."""
    buf = bytearray(data)
    rewrite_in_place(buf, 0, base, epoch)
    header = parse_header(data)
    assert header_prefix(base, header.batch_length, epoch) + data[17:] == bytes(buf)


@given(record_batches(), st.integers(0, 2**41))
def test_log_append_time_rewrite(data: bytes, now: int) -> None:
    """LogAppendTime rewrites type bit, maxTimestamp and CRC; records report the append time."""
    header = parse_header(data)
    new = log_append_time_header(data, 0, header, 5, 1, now) + data[HEADER_SIZE:]
    h = parse_header(new)
    assert h.is_log_append_time and h.max_timestamp == now and crc_is_valid(new, 0, h)
    assert all(r.timestamp == now for r in iter_records(new))
    buf = bytearray(data)
    set_log_append_time_in_place(buf, 0, now)
    assert bytes(buf[17:]) == new[17:]


@given(st.lists(record_batches(max_records=3), min_size=1, max_size=3))
def test_split_grown_byte_by_byte(batches: list[bytes]) -> None:
    """Every prefix splits into exactly its whole batches, or is rejected if partial."""
    data = b"".join(batches)
    ends = []
    total = 0
    for b in batches:
        total += len(b)
        ends.append(total)
    for cut in range(len(data) + 1):
        whole = [e for e in ends if e <= cut]
        got = split_batches(data[:cut], allow_partial_tail=True)
        assert [p + h.size for p, h in got] == whole
        if cut in ends or cut == 0:
            assert len(split_batches(data[:cut])) == len(whole)
        else:
            with pytest.raises(InvalidBatchError) as e:
                split_batches(data[:cut])
            assert e.value.error_code == ErrorCode.CORRUPT_MESSAGE


@given(st.lists(record_batches(), min_size=1, max_size=4))
def test_iter_batches_leaves_trailing_bytes_alone(batches: list[bytes]) -> None:
    """Batch framing with an explicit end never looks past it."""
    data = b"".join(batches)
    got = list(iter_batches(data + b"\xff" * 100, end=len(data)))
    assert len(got) == len(batches)


@given(record_batches(), st.data())
def test_any_flipped_byte_inside_crc_is_corrupt(data: bytes, draw: st.DataObject) -> None:
    """A changed byte anywhere in attributes..end is CORRUPT_MESSAGE (CRC32C catches it)."""
    i = draw.draw(st.integers(CRC_OFFSET, len(data) - 1))
    buf = bytearray(data)
    buf[i] ^= draw.draw(st.integers(1, 255))
    assert _validate(buf, client=False) == ErrorCode.CORRUPT_MESSAGE


def _batch(**kw: object) -> bytearray:
    records = [Record(b"k", b"v", (), 1), Record(None, b"w", (), 2)]
    return bytearray(build_batch(records, **kw))  # type: ignore[arg-type]


def _set(start: int, value: int, width: int, recrc: bool = False) -> Callable[[bytearray], None]:
    def mutate(buf: bytearray) -> None:
        buf[start : start + width] = value.to_bytes(width, "big", signed=True)
        if recrc:
            fix_crc(buf)

    return mutate


def _flip(i: int) -> Callable[[bytearray], None]:
    def mutate(buf: bytearray) -> None:
        buf[i] ^= 1

    return mutate


MALFORMED = {
    "short-length": (_set(8, 40, 4), True, ErrorCode.CORRUPT_MESSAGE),
    "magic-0": (_set(16, 0, 1), True, ErrorCode.INVALID_RECORD),
    "magic-1": (_set(16, 1, 1), True, ErrorCode.INVALID_RECORD),
    "magic-3": (_set(16, 3, 1), True, ErrorCode.CORRUPT_MESSAGE),
    "bad-crc": (_flip(30), True, ErrorCode.CORRUPT_MESSAGE),
    "base-offset": (_set(0, 5, 8), True, ErrorCode.INVALID_RECORD),
    "count": (_set(57, 3, 4, recrc=True), True, ErrorCode.INVALID_RECORD),
    "zero-count": (_set(57, 0, 4, recrc=True), True, ErrorCode.INVALID_RECORD),
    "negative-delta": (_set(23, -1, 4, recrc=True), False, ErrorCode.INVALID_RECORD),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_validation_codes(case: str) -> None:
    """Each malformed batch gets Kafka's error code (CORRUPT_MESSAGE 2, INVALID_RECORD 87)."""
    mutate, client, code = MALFORMED[case]
    buf = _batch()
    mutate(buf)
    assert _validate(buf, client=client) == code


def test_client_only_checks() -> None:
    """Control batches, base offsets != 0, idempotence without sequence: clients only."""
    for batch in (
        _batch(is_control=True),
        _batch(base_offset=9),
        _batch(producer_id=5, producer_epoch=0, base_sequence=-1),
    ):
        assert _validate(batch, client=True) == ErrorCode.INVALID_RECORD
        assert _validate(batch, client=False) == ErrorCode.NONE


def test_too_large_batch() -> None:
    """A batch above max.message.bytes is MESSAGE_TOO_LARGE; unchecked when None."""
    batch = _batch()
    assert _validate(batch, client=True, max_message_bytes=len(batch) - 1) == 10
    assert _validate(batch, client=True, max_message_bytes=len(batch)) == 0
    assert _validate(batch, client=True, max_message_bytes=None) == 0


def test_first_error_wins_in_kafka_order() -> None:
    """Per batch: base offset, then size, then CRC -- as UnifiedLog.analyzeAndValidateRecords."""
    buf = _batch(base_offset=3)
    buf[40] ^= 1
    assert _validate(buf, client=True, max_message_bytes=10) == ErrorCode.INVALID_RECORD
    assert _validate(buf, client=False, max_message_bytes=10) == ErrorCode.MESSAGE_TOO_LARGE
    assert _validate(buf, client=False) == ErrorCode.CORRUPT_MESSAGE


def test_compressed_batches_are_not_opened() -> None:
    """iter_records refuses batches with a compression codec."""
    buf = _batch()
    buf[22] |= 0x02
    fix_crc(buf)
    assert _validate(buf, client=True) == ErrorCode.NONE
    with pytest.raises(ValueError, match="compressed"):
        list(iter_records(buf))


@given(record_lists())
def test_malformed_record_length_is_invalid_record(records: list[Record]) -> None:
    """A record whose length varint disagrees with its fields is INVALID_RECORD."""
    buf = bytearray(build_batch(records))
    buf[HEADER_SIZE] += 2  # first record's length (small positive varint)
    with pytest.raises(InvalidBatchError) as e:
        list(iter_records(buf))
    assert e.value.error_code == ErrorCode.INVALID_RECORD


def test_header_keys_round_trip_non_utf8() -> None:
    """Header keys that are not UTF-8 survive decode -> encode byte for byte."""
    raw = build_batch([Record(b"k", b"v", (("h\udcff", b"x"),), 1)])
    (record,) = iter_records(raw)
    assert build_batch([record]) == raw
