"""log.compression: codecs as Kafka frames them, raw records, re-sealed and empty batches.

Interoperability is checked against kafka-python's own codec and record batch
code (a real client): what it compresses we read, what we seal it reads.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka import codec as kp_codec
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from kraft.log.batch import DELETE_HORIZON_FLAG, crc_is_valid, parse_header
from kraft.log.compression import (
    GZIP,
    LZ4,
    NONE,
    SNAPPY,
    ZSTD,
    CodecUnavailableError,
    codec_available,
    compress,
    decompress,
    empty_batch,
    gap_batch,
    open_records,
    seal_batch,
    trim_gap_batch,
)
from kraft.log.errors import InvalidBatchError
from kraft.log.records import Record, build_batch, iter_records
from tests.strategies import records

CODECS = [GZIP, SNAPPY, LZ4, ZSTD]
KP_DECODE = {
    GZIP: kp_codec.gzip_decode,
    SNAPPY: kp_codec.snappy_decode,
    LZ4: kp_codec.lz4_decode,
    ZSTD: kp_codec.zstd_decode,
}
KP_ENCODE = {
    GZIP: kp_codec.gzip_encode,
    SNAPPY: kp_codec.snappy_encode,
    LZ4: kp_codec.lz4_encode,
    ZSTD: kp_codec.zstd_encode,
}


def kp_batch(recs: list[Record], codec: int) -> bytes:
    """A producer batch built by kafka-python (compressed when that pays off)."""
    builder = DefaultRecordBatchBuilder(2, codec, False, -1, -1, -1, 1 << 20)
    for i, r in enumerate(recs):
        ts = r.timestamp if r.timestamp >= 0 else 0
        builder.append(i, timestamp=ts, key=r.key, value=r.value, headers=list(r.headers))
    return bytes(builder.build())


def kp_records(batch: bytes) -> list[tuple[int, bytes | None, bytes | None, int]]:
    """(offset, key, value, timestamp) as kafka-python's consumer reads the batch."""
    return [(r.offset, r.key, r.value, r.timestamp) for r in DefaultRecordBatch(batch)]


@pytest.mark.parametrize("codec", CODECS)
@given(data=st.binary(min_size=1, max_size=200_000))
def test_round_trip_and_kafka_python_interop(codec: int, data: bytes) -> None:
    """Every codec round-trips, and agrees with kafka-python both ways (a records
    section is never empty; kafka-python cannot read an empty xerial stream)."""
    packed = compress(codec, data)
    assert decompress(codec, packed) == data
    assert bytes(KP_DECODE[codec](packed)) == data
    assert decompress(codec, bytes(KP_ENCODE[codec](data))) == data


def test_frames_are_kafkas() -> None:
    """Snappy uses xerial framing; LZ4 frames have independent 64 KiB blocks, no size."""
    assert compress(SNAPPY, b"x" * 100).startswith(b"\x82SNAPPY\x00")
    frame = compress(LZ4, b"y" * 100_000)
    assert frame[:4] == b"\x04\x22\x4d\x18"
    flg, bd = frame[4], frame[5]
    assert flg >> 6 == 1  # version 01
    assert flg & 0x20  # block independence
    assert not flg & 0x08  # no content size
    assert not flg & 0x10 and not flg & 0x04  # no block / content checksum
    assert bd == 0x40  # 64 KiB blocks


def test_raw_snappy_is_read() -> None:
    """librdkafka's raw snappy (no xerial header) decompresses too."""
    raw = kp_codec.snappy_encode(b"raw" * 50, xerial_compatible=False)
    assert decompress(SNAPPY, raw) == b"raw" * 50


@pytest.mark.parametrize("codec", CODECS)
def test_garbage_is_invalid_batch(codec: int) -> None:
    """Data a codec rejects raises InvalidBatchError, not a codec library exception."""
    with pytest.raises(InvalidBatchError):
        decompress(codec, b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x09garbage")


def test_unknown_codec_is_invalid_batch() -> None:
    """Codec ids 5-7 are not Kafka codecs."""
    with pytest.raises(InvalidBatchError):
        decompress(6, b"abc")
    assert not codec_available(6)


def test_missing_package_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A codec whose package cannot be imported raises CodecUnavailableError naming it."""
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert not codec_available(ZSTD)
    with pytest.raises(CodecUnavailableError, match="zstandard"):
        decompress(ZSTD, b"\x28\xb5\x2f\xfd")
    with pytest.raises(CodecUnavailableError, match="zstandard"):
        compress(ZSTD, b"abc")
    assert codec_available(GZIP) and codec_available(NONE)


@given(st.lists(records(), min_size=1, max_size=8), st.data())
def test_open_and_reseal_uncompressed(recs: list[Record], data: st.DataObject) -> None:
    """Records parse as iter_records sees them; resealing all is byte-identical and a
    subset keeps offsets, timestamps, keys, values and headers."""
    batch = build_batch(recs, base_offset=100, partition_leader_epoch=3)
    header = parse_header(batch)
    raws = open_records(batch, header)
    decoded = list(iter_records(batch))
    assert [(r.key, r.has_value) for r in raws] == [(d.key, d.value is not None) for d in decoded]
    assert seal_batch(header, raws, None) == batch
    keep = sorted(data.draw(st.sets(st.integers(0, len(raws) - 1), min_size=1)))
    sealed = seal_batch(header, [raws[i] for i in keep], None)
    new = parse_header(sealed)
    assert crc_is_valid(sealed, 0, new)
    assert (new.base_offset, new.last_offset_delta, new.records_count) == (
        100,
        len(recs) - 1,
        len(keep),
    )
    got = list(iter_records(sealed))
    assert [(r.offset, r.key, r.value, r.headers, r.timestamp) for r in got] == [
        (d.offset, d.key, d.value, d.headers, d.timestamp) for d in (decoded[i] for i in keep)
    ]
    assert new.max_timestamp == max(r.timestamp for r in got)


@given(st.lists(records(), min_size=1, max_size=8), st.integers(0, 2**42))
def test_delete_horizon_keeps_record_timestamps(recs: list[Record], horizon: int) -> None:
    """A delete horizon lands in baseTimestamp with attribute bit 6; record
    timestamps do not change (KIP-534)."""
    batch = build_batch(recs)
    header = parse_header(batch)
    sealed = seal_batch(header, open_records(batch, header), horizon)
    new = parse_header(sealed)
    assert new.attributes & DELETE_HORIZON_FLAG and new.base_timestamp == horizon
    assert [r.timestamp for r in iter_records(sealed)] == [r.timestamp for r in iter_records(batch)]


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_batch_from_kafka_python(codec: int) -> None:
    """A kafka-python compressed batch opens; a subset reseals with the same codec and
    kafka-python reads it back."""
    recs = [Record(f"k{i % 3}".encode(), b"v" * 200 + bytes([i]), (), 1000 + i) for i in range(9)]
    batch = kp_batch(recs, codec)
    header = parse_header(batch)
    assert header.compression == codec
    raws = open_records(batch, header)
    assert [r.key for r in raws] == [r.key for r in recs]
    sealed = seal_batch(header, raws[6:], 5000)
    new = parse_header(sealed)
    assert new.compression == codec and crc_is_valid(sealed, 0, new)
    assert kp_records(sealed) == [(i, recs[i].key, recs[i].value, 1000 + i) for i in range(6, 9)]


def test_empty_and_gap_batches() -> None:
    """Empty batches keep offsets and producer fields, hold no record and are skipped
    by kafka-python's reader, which still sees their offset range."""
    batch = build_batch(
        [Record(b"k", b"v", (), 7)] * 4,
        base_offset=40,
        producer_id=9,
        producer_epoch=2,
        base_sequence=11,
        partition_leader_epoch=5,
    )
    empty = empty_batch(parse_header(batch))
    header = parse_header(empty)
    assert len(empty) == 61 and crc_is_valid(empty, 0, header)
    assert (header.base_offset, header.last_offset, header.records_count) == (40, 43, 0)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (9, 2, 11)
    assert (header.partition_leader_epoch, header.max_timestamp, header.base_timestamp) == (
        5,
        7,
        -1,
    )
    gap = gap_batch(10, 19, 4)
    gheader = parse_header(gap)
    assert crc_is_valid(gap, 0, gheader)
    assert (gheader.base_offset, gheader.last_offset, gheader.producer_id) == (10, 19, -1)
    assert gheader.max_timestamp == -1 and list(iter_records(gap)) == []
    kp = DefaultRecordBatch(gap)
    assert kp.next_offset == 20 and list(kp) == []


def test_trim_gap_batch() -> None:
    """Only a valid leading gap batch holding the log end offset above its base is cut
    there, to the same size, at an epoch no lower than the follower's."""
    gap = gap_batch(10, 19, 4)
    rest = build_batch([Record(b"k", b"v", (), 1)], base_offset=20)
    view = memoryview(gap + rest)
    for leo, latest in ((10, None), (20, None), (9, 7)):
        assert trim_gap_batch(view, leo, latest) is view
    trimmed = trim_gap_batch(view, 15, 6)
    header = parse_header(trimmed)
    assert (header.base_offset, header.last_offset, header.partition_leader_epoch) == (15, 19, 6)
    assert crc_is_valid(trimmed, 0, header) and bytes(trimmed[61:]) == rest
    assert parse_header(trim_gap_batch(view, 15, 2)).partition_leader_epoch == 4
    damaged = bytearray(gap + rest)
    damaged[30] ^= 1
    assert trim_gap_batch(memoryview(damaged), 15, None).obj is damaged
    producer = empty_batch(
        parse_header(
            build_batch(
                [Record(b"k", b"v", (), 1)] * 3, producer_id=1, producer_epoch=0, base_sequence=0
            )
        )
    )
    assert trim_gap_batch(memoryview(producer), 1, None).obj is producer
