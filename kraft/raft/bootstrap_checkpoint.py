"""The bootstrap checkpoint: the voter set `kraft storage format` records (KIP-853).

`kraft storage format --standalone` or `--initial-controllers` writes, as
Kafka's kafka-storage does, the file

    <metadata.log.dir>/__cluster_metadata-0/00000000000000000000-0000000000.checkpoint

a snapshot at offset 0, epoch 0, holding no log entries: a control batch with
a SnapshotHeaderRecord, a KRaftVersionRecord (kraft.version 1: the voters are
recorded in the log, not in `controller.quorum.voters`) and a VotersRecord
(each voter's id, directory id and controller endpoints), then a
SnapshotFooterRecord. Kafka also puts its bootstrap feature levels there;
kraft's active controller writes metadata.version itself, so the file holds
only the quorum's records.

A node configured with `controller.quorum.bootstrap.servers` (no
`controller.quorum.voters`) reads this voter set at start-up (`read`) as where
its log starts (kraft.version 1): the first leader writes it into the log, and
from then on the latest VotersRecord in the log is in force
(`kraft.raft.voter_set`); AddRaftVoter/RemoveRaftVoter append new ones,
nothing rewrites this file.
`kraft.raft.disk_log` leaves the file alone: it is not a snapshot of log
entries, and the raft layer never serves or deletes it.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kio.schema.snapshot_footer_record.v0.data import SnapshotFooterRecord
from kio.schema.snapshot_header_record.v0.data import SnapshotHeaderRecord
from kio.schema.types import BrokerId
from kio.schema.voters_record.v0.data import Endpoint as KioEndpoint
from kio.schema.voters_record.v0.data import KRaftVersionFeature, VotersRecord
from kio.schema.voters_record.v0.data import Voter as KioVoter
from kio.static.primitive import i16, i64, u16

from kraft import kafka_uuid
from kraft.log.checkpoint import atomic_write
from kraft.log.records import build_batch
from kraft.raft import batches
from kraft.raft.disk_log import PARTITION_DIR

FILE_NAME = "00000000000000000000-0000000000.checkpoint"
KRAFT_VERSION = 5
"""ControlRecordType.KRAFT_VERSION."""
KRAFT_VOTERS = 6
"""ControlRecordType.KRAFT_VOTERS."""
KRAFT_VERSION_DYNAMIC = 1
"""kraft.version 1: the voter set lives in the log (KIP-853)."""
_KRAFT_VERSION_VALUE = struct.Struct(">hhB")  # version, kraft.version, no tagged fields


class BootstrapCheckpointError(Exception):
    """The bootstrap checkpoint is damaged, or names no usable endpoint."""


@dataclass(frozen=True, slots=True)
class Voter:
    """One voter as `--initial-controllers` names it: id@host:port:directory-id."""

    node_id: int
    directory_id: str  # Kafka Uuid string
    listener: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.node_id}@{self.host}:{self.port}:{self.directory_id}"


def path(metadata_log_dir: str | Path) -> Path:
    return Path(metadata_log_dir) / PARTITION_DIR / FILE_NAME


def parse_dynamic_voters(text: str, listener: str) -> list[Voter]:
    """`--initial-controllers`: comma-separated id@host:port:directory-id.

    ValueError in Kafka's words (DynamicVoter.parse) for a malformed entry."""
    if not text.strip():
        raise ValueError("No voters given.")
    voters = [_parse_voter(entry.strip(), listener) for entry in text.split(",")]
    ids = [v.node_id for v in voters]
    if len(set(ids)) != len(ids):
        raise ValueError(f"Node id {next(i for i in ids if ids.count(i) > 1)} was specified "
                         "more than once.")
    return voters


def _parse_voter(text: str, listener: str) -> Voter:
    at = text.find("@")
    if at < 0:
        raise ValueError("No @ found in dynamic voter string.")
    if at == 0:
        raise ValueError("Invalid @ at beginning of dynamic voter string.")
    try:
        node_id = int(text[:at])
    except ValueError:
        raise ValueError("Failed to parse node id in dynamic voter string.") from None
    if node_id < 0:
        raise ValueError(f"Invalid negative node id {node_id} in dynamic voter string.")
    rest = text[at + 1:]
    if not rest:
        raise ValueError("No hostname found after node id.")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ValueError("Hostname began with left bracket, but no right bracket was found.")
        host, rest = rest[1:end], rest[end + 1:]
        if not rest.startswith(":"):
            raise ValueError("Port section must start with a colon.")
        rest = rest[1:]
    else:
        colon = rest.find(":")
        if colon < 0:
            raise ValueError("No colon following hostname could be found.")
        host, rest = rest[:colon], rest[colon + 1:]
    colon = rest.find(":")
    if colon < 0:
        raise ValueError("No colon following port could be found.")
    try:
        port = int(rest[:colon])
    except ValueError:
        raise ValueError("Failed to parse port in dynamic voter string.") from None
    if not 0 < port < 65536:
        raise ValueError("Failed to parse port in dynamic voter string.")
    directory_id = rest[colon + 1:]
    try:
        decode_uuid(directory_id)
    except ValueError:
        raise ValueError("Failed to parse directory ID in dynamic voter string.") from None
    return Voter(node_id, directory_id, listener, host, port)


def decode_uuid(text: str) -> uuid.UUID:
    """A Kafka Uuid string (22 chars of URL-safe base64); ValueError if it is not one."""
    if len(text) != 22:
        raise ValueError(f"{text!r} is not a Kafka Uuid")
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except (binascii.Error, ValueError):
        raise ValueError(f"{text!r} is not a Kafka Uuid") from None
    if len(raw) != 16 or base64.urlsafe_b64encode(raw).decode().rstrip("=") != text:
        raise ValueError(f"{text!r} is not a Kafka Uuid")
    return uuid.UUID(bytes=raw)


def write(metadata_log_dir: str | Path, voters: list[Voter], timestamp_ms: int) -> Path:
    """Write the bootstrap checkpoint (durably) and return its path."""
    header = SnapshotHeaderRecord(version=i16(0), last_contained_log_timestamp=i64(timestamp_ms))
    kraft_version = _KRAFT_VERSION_VALUE.pack(0, KRAFT_VERSION_DYNAMIC, 0)
    voters_record = VotersRecord(version=i16(0), voters=tuple(
        KioVoter(
            voter_id=BrokerId(v.node_id),
            voter_directory_id=decode_uuid(v.directory_id),
            endpoints=(KioEndpoint(name=v.listener, host=v.host, port=u16(v.port)),),
            k_raft_version_feature=KRaftVersionFeature(
                min_supported_version=i16(0), max_supported_version=i16(KRAFT_VERSION_DYNAMIC)),
        ) for v in voters))
    data = build_batch(
        [batches.control_record(batches.SNAPSHOT_HEADER, batches._write(header), timestamp_ms),
         batches.control_record(KRAFT_VERSION, kraft_version, timestamp_ms),
         batches.control_record(KRAFT_VOTERS, batches._write(voters_record), timestamp_ms)],
        base_offset=0, partition_leader_epoch=0, is_control=True)
    data += build_batch(
        [batches.control_record(batches.SNAPSHOT_FOOTER,
                                batches._write(SnapshotFooterRecord(version=i16(0))),
                                timestamp_ms)],
        base_offset=3, partition_leader_epoch=0, is_control=True)
    target = path(metadata_log_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, bytes(data))
    return target


def decode_kraft_version(value: bytes) -> int:
    """The kraft.version of a KRaftVersionRecord's value. Raises MalformedBatch."""
    if len(value) < 4:
        raise batches.MalformedBatch("KRaftVersionRecord too short")
    _version, kraft_version = struct.unpack_from(">hh", value)
    return int(kraft_version)


def decode_voters(value: bytes) -> list[dict[str, Any]]:
    """A VotersRecord's voters, as Kafka's tools show them. Raises MalformedBatch."""
    record = batches._read(VotersRecord, value)
    return [{"voter_id": v.voter_id,
             "voter_directory_id": kafka_uuid.encode(v.voter_directory_id or uuid.UUID(int=0)),
             "endpoints": [f"{e.name}://{e.host}:{e.port}" for e in v.endpoints]}
            for v in record.voters]


def read(metadata_log_dir: str | Path) -> list[Voter] | None:
    """The voter set recorded at format, or None when there is no bootstrap
    checkpoint or it holds no VotersRecord.

    BootstrapCheckpointError, naming the file, if it is damaged."""
    file = path(metadata_log_dir)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return None
    found: VotersRecord | None = None
    try:
        for header, record in batches._records(data, allow_partial_tail=False):
            if header.is_control and batches.control_kind(record.key) == KRAFT_VOTERS:
                found = batches._read(VotersRecord, record.value or b"")
    except batches.MalformedBatch as e:
        raise BootstrapCheckpointError(f"{file} is damaged: {e}") from None
    if found is None:
        # Kafka's kafka-storage writes the file for every metadata directory, with
        # only its bootstrap feature levels when no voter set is given (-N, static).
        return None
    voters = []
    for v in found.voters:
        directory = kafka_uuid.encode(v.voter_directory_id or uuid.UUID(int=0))
        for endpoint in v.endpoints:
            voters.append(Voter(v.voter_id, directory, endpoint.name, endpoint.host,
                                endpoint.port))
            break
        else:
            raise BootstrapCheckpointError(f"{file}: voter {v.voter_id} has no endpoint")
    return voters
