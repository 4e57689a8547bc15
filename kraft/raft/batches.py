"""Metadata-log entries as Kafka record batches, and control records.

The raft core deals in `Entry` values; on disk (segments of
`__cluster_metadata-0/`), in Fetch responses and in snapshot files they are
Kafka v2 record batches, uncompressed, so Kafka's own tools can read them:

- Data entries: one batch per run of consecutive entries of one epoch, each
  record's value is the entry's payload, key null. partitionLeaderEpoch is
  the entry epoch.
- Control entries: a batch with the control attribute set holding one
  record. Its key is the control record key (int16 version = 0, int16
  type); its value is the control message as Kafka serialises it (int16
  message version first, then the fields, flexible encoding):

      LEADER_CHANGE   = 2  LeaderChangeMessage {version, leader_id, voters,
                                                granting_voters}
      SNAPSHOT_HEADER = 3  SnapshotHeaderRecord {version, last_contained_log_timestamp}
      SNAPSHOT_FOOTER = 4  SnapshotFooterRecord {version}

A snapshot file (`<end offset>-<epoch>.checkpoint`) is: a SNAPSHOT_HEADER
control batch, data batches of the state's records, a SNAPSHOT_FOOTER control
batch, with offsets counting from 0 within the file, as Kafka writes it.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from kio.schema.leader_change_message.v0.data import LeaderChangeMessage as KioLeaderChange
from kio.schema.leader_change_message.v0.data import Voter as KioVoter
from kio.schema.snapshot_footer_record.v0.data import SnapshotFooterRecord
from kio.schema.snapshot_header_record.v0.data import SnapshotHeaderRecord
from kio.schema.types import BrokerId
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i16, i32, i64

from kraft.log.batch import BatchHeader, crc_is_valid, iter_batches
from kraft.log.errors import InvalidBatchError
from kraft.log.records import Record, build_batch, iter_records
from kraft.net import guard
from kraft.raft.types import Entry, LeaderChangeMessage

LEADER_CHANGE = 2
SNAPSHOT_HEADER = 3
SNAPSHOT_FOOTER = 4
_CONTROL_KEY = struct.Struct(">hh")
MAX_BATCH_BYTES = 8 * 1024 * 1024  # Kafka's KafkaRaftClient.MAX_BATCH_SIZE_BYTES


class MalformedBatch(Exception):
    """Bytes that claim to be metadata-log batches are not."""


def _write(entity: Any) -> bytes:
    buf = io.BytesIO()
    entity_writer(type(entity))(buf, entity)
    return buf.getvalue()


def _read(cls: type, data: bytes) -> Any:
    try:
        data = guard.check(cls, data, 0) or data  # kio alone aborts on huge lengths
        value, _ = entity_reader(cls)(data, 0)  # type: ignore[var-annotated]
    except Exception as e:  # guard.Malformed, or kio's several types for bad input
        raise MalformedBatch(f"bad {cls.__name__}: {e}") from e
    return value


def control_record(kind: int, value: bytes, timestamp: int) -> Record:
    return Record(key=_CONTROL_KEY.pack(0, kind), value=value, headers=(), timestamp=timestamp)


def encode_leader_change(msg: LeaderChangeMessage) -> bytes:
    return _write(
        KioLeaderChange(
            version=i16(0),
            leader_id=BrokerId(msg.leader_id),
            voters=tuple(KioVoter(voter_id=i32(v)) for v in msg.voters),
            granting_voters=tuple(KioVoter(voter_id=i32(v)) for v in msg.granting_voters),
        )
    )


def decode_leader_change(value: bytes) -> LeaderChangeMessage:
    msg = _read(KioLeaderChange, value)
    return LeaderChangeMessage(
        leader_id=msg.leader_id,
        voters=tuple(v.voter_id for v in msg.voters),
        granting_voters=tuple(v.voter_id for v in msg.granting_voters),
    )


def encode_entries(entries: Sequence[Entry], timestamp: int) -> bytes:
    """Record batches holding `entries` (contiguous offsets), ready to append."""
    out = bytearray()
    run: list[Entry] = []
    run_bytes = 0

    def flush_run() -> None:
        nonlocal run_bytes
        if run:
            out.extend(
                build_batch(
                    [Record(None, e.payload, (), timestamp) for e in run],
                    base_offset=run[0].offset,
                    partition_leader_epoch=run[0].epoch,
                )
            )
            run.clear()
            run_bytes = 0

    for entry in entries:
        if entry.control is not None:
            flush_run()
            out.extend(
                build_batch(
                    [control_record(LEADER_CHANGE, encode_leader_change(entry.control), timestamp)],
                    base_offset=entry.offset,
                    partition_leader_epoch=entry.epoch,
                    is_control=True,
                )
            )
            continue
        if run and (
            run[-1].epoch != entry.epoch or run_bytes + len(entry.payload) > MAX_BATCH_BYTES
        ):
            flush_run()
        run.append(entry)
        run_bytes += len(entry.payload) + 16
    flush_run()
    return bytes(out)


def decode_entries(data: bytes | memoryview, start_offset: int = 0) -> Iterator[Entry]:
    """The entries in `data` (whole batches; a cut-off last batch is ignored),
    skipping any before `start_offset`. Control records other than
    LeaderChange (snapshot header/footer) are skipped."""
    for header, record in _records(data, allow_partial_tail=True):
        if header.last_offset < start_offset:
            continue
        offset = record.offset
        if offset < start_offset:
            continue
        if header.is_control:
            if control_kind(record.key) == LEADER_CHANGE:
                yield Entry(
                    offset,
                    header.partition_leader_epoch,
                    b"",
                    decode_leader_change(record.value or b""),
                )
            continue
        yield Entry(offset, header.partition_leader_epoch, record.value or b"")


def _records(
    data: bytes | memoryview, *, allow_partial_tail: bool
) -> Iterator[tuple[BatchHeader, Record]]:
    """(batch header, record) for every record, CRCs checked."""
    view = memoryview(data)
    try:
        for pos, header in iter_batches(view, allow_partial_tail=allow_partial_tail):
            if header.compression:
                raise MalformedBatch("compressed batch in the metadata log")
            if not crc_is_valid(view, pos, header):
                raise MalformedBatch(f"CRC mismatch in the batch at offset {header.base_offset}")
            for record in iter_records(view, pos):
                yield header, record
    except (InvalidBatchError, ValueError) as e:
        raise MalformedBatch(str(e)) from e


def control_kind(key: bytes | None) -> int:
    """The ControlRecordType in a control record's key."""
    if key is None or len(key) < _CONTROL_KEY.size:
        raise MalformedBatch("control record without a control key")
    _version, kind = _CONTROL_KEY.unpack_from(key)
    return kind


def encode_snapshot(payloads: Iterable[bytes], last_contained_timestamp: int) -> bytes:
    """A snapshot file's content: header, data batches, footer."""
    out = bytearray()
    header = _write(
        SnapshotHeaderRecord(version=i16(0),
                             last_contained_log_timestamp=i64(last_contained_timestamp))
    )
    out += build_batch(
        [control_record(SNAPSHOT_HEADER, header, last_contained_timestamp)],
        base_offset=0,
        partition_leader_epoch=0,
        is_control=True,
    )
    entries = [Entry(i + 1, 0, p) for i, p in enumerate(payloads)]
    out += encode_entries(entries, last_contained_timestamp)
    footer = _write(SnapshotFooterRecord(version=i16(0)))
    out += build_batch(
        [control_record(SNAPSHOT_FOOTER, footer, last_contained_timestamp)],
        base_offset=len(entries) + 1,
        partition_leader_epoch=0,
        is_control=True,
    )
    return bytes(out)


def decode_snapshot(data: bytes) -> list[bytes]:
    """The record payloads of a snapshot file. Raises MalformedBatch unless the
    file is whole: header first, footer last, nothing cut off."""
    kinds: list[int] = []
    payloads: list[bytes] = []
    for header, record in _records(data, allow_partial_tail=False):
        if header.is_control:
            kinds.append(control_kind(record.key))
        else:
            payloads.append(record.value or b"")
    if not kinds or kinds[0] != SNAPSHOT_HEADER or kinds[-1] != SNAPSHOT_FOOTER:
        raise MalformedBatch("snapshot is not header, records, footer")
    return payloads
