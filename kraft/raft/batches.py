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
      KRAFT_VERSION   = 5  KRaftVersionRecord {version, kraft_version}
      KRAFT_VOTERS    = 6  VotersRecord {version, voters: [{voter_id,
                             voter_directory_id, endpoints, kraft_version_feature}]}

A snapshot file (`<end offset>-<epoch>.checkpoint`) is: a control batch with
the SNAPSHOT_HEADER (and, with kraft.version 1, the KRAFT_VERSION and
KRAFT_VOTERS in force at its end offset, as Kafka writes them), data
batches of the state's records, a SNAPSHOT_FOOTER control batch, with
offsets counting from 0 within the file, as Kafka writes it.
"""

from __future__ import annotations

import base64
import io
import struct
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from kio.schema.leader_change_message.v0.data import LeaderChangeMessage as KioLeaderChange
from kio.schema.leader_change_message.v0.data import Voter as KioVoter
from kio.schema.types import BrokerId
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i16, i32, i64, u16

from kraft import kafka_uuid
from kraft.log.batch import BatchHeader, crc_is_valid, iter_batches
from kraft.log.errors import InvalidBatchError
from kraft.log.records import Record, build_batch, iter_records
from kraft.net import guard
from kraft.raft.types import (
    ControlMessage,
    Entry,
    KRaftVersionRecord,
    LeaderChangeMessage,
    QuorumRecord,
    VoterNode,
    VotersRecord,
)

LEADER_CHANGE = 2
SNAPSHOT_HEADER = 3
SNAPSHOT_FOOTER = 4
KRAFT_VERSION = 5
KRAFT_VOTERS = 6
_KRAFT_VERSION_VALUE = struct.Struct(">hhB")  # version, kraft.version, no tagged fields
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


def encode_kraft_version(record: KRaftVersionRecord) -> bytes:
    return _KRAFT_VERSION_VALUE.pack(0, record.kraft_version, 0)


def decode_kraft_version(value: bytes) -> KRaftVersionRecord:
    if len(value) < 4:
        raise MalformedBatch("KRaftVersionRecord too short")
    _version, kraft_version = struct.unpack_from(">hh", value)
    return KRaftVersionRecord(int(kraft_version))


def encode_voters(record: VotersRecord) -> bytes:
    # kio's schemas of VotersRecord and of the snapshot header and footer load on
    # first use: a node of a static quorum that has not snapshotted yet needs none.
    from kio.schema.voters_record.v0.data import Endpoint as KioEndpoint
    from kio.schema.voters_record.v0.data import KRaftVersionFeature
    from kio.schema.voters_record.v0.data import Voter as KioVotersVoter
    from kio.schema.voters_record.v0.data import VotersRecord as KioVotersRecord

    return _write(KioVotersRecord(version=i16(0), voters=tuple(
        KioVotersVoter(
            voter_id=BrokerId(v.voter_id),
            voter_directory_id=(None if v.directory_id is None
                                else _decode_uuid(v.directory_id)),
            endpoints=tuple(KioEndpoint(name=n, host=h, port=u16(p)) for n, h, p in v.endpoints),
            k_raft_version_feature=KRaftVersionFeature(
                min_supported_version=i16(v.min_kraft_version),
                max_supported_version=i16(v.max_kraft_version)),
        ) for v in record.voters)))


def _decode_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))


def decode_voters(value: bytes) -> VotersRecord:
    from kio.schema.voters_record.v0.data import VotersRecord as KioVotersRecord

    record = _read(KioVotersRecord, value)
    return VotersRecord(tuple(
        VoterNode(
            voter_id=int(v.voter_id),
            directory_id=(None if v.voter_directory_id is None or v.voter_directory_id.int == 0
                          else kafka_uuid.encode(v.voter_directory_id)),
            endpoints=tuple((e.name, e.host, int(e.port)) for e in v.endpoints),
            min_kraft_version=int(v.k_raft_version_feature.min_supported_version),
            max_kraft_version=int(v.k_raft_version_feature.max_supported_version),
        ) for v in record.voters))


def _control_record(control: ControlMessage, timestamp: int) -> Record:
    if isinstance(control, LeaderChangeMessage):
        return control_record(LEADER_CHANGE, encode_leader_change(control), timestamp)
    if isinstance(control, VotersRecord):
        return control_record(KRAFT_VOTERS, encode_voters(control), timestamp)
    return control_record(KRAFT_VERSION, encode_kraft_version(control), timestamp)


def _decode_control(kind: int, value: bytes) -> ControlMessage | None:
    if kind == LEADER_CHANGE:
        return decode_leader_change(value)
    if kind == KRAFT_VOTERS:
        return decode_voters(value)
    if kind == KRAFT_VERSION:
        return decode_kraft_version(value)
    return None


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
                    [_control_record(entry.control, timestamp)],
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
    LeaderChange, KRaftVersion and Voters (snapshot header/footer) are skipped."""
    for header, record in _records(data, allow_partial_tail=True):
        if header.last_offset < start_offset:
            continue
        offset = record.offset
        if offset < start_offset:
            continue
        if header.is_control:
            control = _decode_control(control_kind(record.key), record.value or b"")
            if control is not None:
                yield Entry(offset, header.partition_leader_epoch, b"", control)
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


def encode_snapshot(payloads: Iterable[bytes], last_contained_timestamp: int,
                    quorum_records: Sequence[QuorumRecord] = ()) -> bytes:
    """A snapshot file's content: header (with the quorum's records), data
    batches, footer."""
    from kio.schema.snapshot_footer_record.v0.data import SnapshotFooterRecord
    from kio.schema.snapshot_header_record.v0.data import SnapshotHeaderRecord

    out = bytearray()
    header = _write(
        SnapshotHeaderRecord(version=i16(0),
                             last_contained_log_timestamp=i64(last_contained_timestamp))
    )
    out += build_batch(
        [control_record(SNAPSHOT_HEADER, header, last_contained_timestamp),
         *(_control_record(r, last_contained_timestamp) for r in quorum_records)],
        base_offset=0,
        partition_leader_epoch=0,
        is_control=True,
    )
    first = 1 + len(quorum_records)
    entries = [Entry(first + i, 0, p) for i, p in enumerate(payloads)]
    out += encode_entries(entries, last_contained_timestamp)
    footer = _write(SnapshotFooterRecord(version=i16(0)))
    out += build_batch(
        [control_record(SNAPSHOT_FOOTER, footer, last_contained_timestamp)],
        base_offset=first + len(entries),
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


def snapshot_quorum_records(data: bytes | memoryview) -> tuple[QuorumRecord, ...]:
    """The KRaftVersion and Voters records in a snapshot's control batches
    (Kafka puts them in the header batch, before any data); empty for
    kraft.version 0."""
    found: list[QuorumRecord] = []
    for header, record in _records(data, allow_partial_tail=True):
        if not header.is_control:
            break
        control = _decode_control(control_kind(record.key), record.value or b"")
        if isinstance(control, VotersRecord | KRaftVersionRecord):
            found.append(control)
    return tuple(found)
