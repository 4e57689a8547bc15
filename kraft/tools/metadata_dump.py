"""`kraft metadata dump DIR` and `kraft metadata show DIR`: what the cluster believes.

Reads a node's metadata log directory (`DIR` may be the log dir holding
`__cluster_metadata-0/`, or that partition directory itself) strictly
read-only, so it is safe on a stopped or a running node:

- the newest complete snapshot (`*.checkpoint`; `.part` files are ignored),
  then every segment's batches from the snapshot's end offset on;
- each batch's framing and CRC32C are checked; the first torn or corrupt
  batch ends the dump with a note saying where (a running node may be
  writing it, a crashed one leaves it for recovery to cut), never an error;
- control records are shown by name (LeaderChange, SnapshotHeader/Footer,
  KRaftVersion and KRaftVoters of the bootstrap checkpoint);
  values that are not metadata records (e.g. `kraft raft-test-server`
  payloads) are shown as raw bytes.

`dump` prints one line per record: offset, epoch, timestamp, type, fields
(a UserScramCredentialRecord's salt and keys redacted, as Kafka's
MetadataShell does: they would let anyone with the dump log in);
`--json` prints one JSON object per record instead. `show` replays the
records into a MetadataImage (kraft.metadata) and prints brokers, controllers
(KIP-919 registrations), topics and
partitions, configs, features and the quorum-state file as tables.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from kraft.log.batch import crc_is_valid, iter_batches
from kraft.log.errors import InvalidBatchError
from kraft.log.records import iter_records
from kraft.metadata import records as mr
from kraft.metadata.delta import MetadataDelta, MetadataReplayError
from kraft.metadata.image import EMPTY, MetadataImage
from kraft.raft import bootstrap_checkpoint as bc
from kraft.raft.batches import (
    LEADER_CHANGE,
    SNAPSHOT_FOOTER,
    SNAPSHOT_HEADER,
    MalformedBatch,
    control_kind,
    decode_leader_change,
)
from kraft.raft.disk_log import PARTITION_DIR, SNAPSHOT_RE

_CONTROL_NAMES = {LEADER_CHANGE: "LeaderChange", SNAPSHOT_HEADER: "SnapshotHeader",
                  SNAPSHOT_FOOTER: "SnapshotFooter", bc.KRAFT_VERSION: "KRaftVersion",
                  bc.KRAFT_VOTERS: "KRaftVoters"}


REDACTED = "[redacted]"


class DumpedRecord(msgspec.Struct):
    source: str  # "snapshot" or "log"
    offset: int
    epoch: int
    timestamp: int
    type: str
    record: Any
    decoded: mr.MetadataRecord | None = None


def partition_dir(directory: Path) -> Path:
    if directory.name == PARTITION_DIR:
        return directory
    if (directory / PARTITION_DIR).is_dir():
        return directory / PARTITION_DIR
    raise FileNotFoundError(f"{directory} holds no {PARTITION_DIR}/ directory")


def _value(payload: bytes) -> tuple[str, Any, mr.MetadataRecord | None]:
    try:
        record = mr.decode(payload)
    except mr.RecordDecodeError:
        return "Raw", {"bytes": payload.hex() if len(payload) > 40 else payload.decode(
            "utf-8", "backslashreplace")}, None
    fields = msgspec.to_builtins(record)
    if isinstance(record, mr.UserScramCredentialRecord):
        fields.update(salt=REDACTED, stored_key=REDACTED, server_key=REDACTED)
    return type(record).__name__, fields, record


def _records(path: Path, source: str, start: int, notes: list[str]) -> Iterator[DumpedRecord]:
    data = path.read_bytes()
    view = memoryview(data)
    try:
        for pos, header in iter_batches(view, allow_partial_tail=False):
            if not crc_is_valid(view, pos, header):
                notes.append(f"{path.name}: CRC mismatch at byte {pos}; the dump stops here")
                return
            if header.compression:
                notes.append(f"{path.name}: compressed batch at byte {pos} skipped")
                continue
            for rec in iter_records(view, pos):
                if rec.offset < start:
                    continue
                payload = rec.value or b""
                if header.is_control:
                    try:
                        kind = control_kind(rec.key)
                    except MalformedBatch as e:
                        notes.append(f"{path.name}: offset {rec.offset}: {e}")
                        continue
                    name = _CONTROL_NAMES.get(kind, f"Control{kind}")
                    fields: Any = {}
                    try:
                        if kind == LEADER_CHANGE:
                            fields = msgspec.to_builtins(decode_leader_change(payload))
                        elif kind == bc.KRAFT_VERSION:
                            fields = {"kraft_version": bc.decode_kraft_version(payload)}
                        elif kind == bc.KRAFT_VOTERS:
                            fields = {"voters": bc.decode_voters(payload)}
                    except MalformedBatch as e:
                        fields = {"error": str(e)}
                    yield DumpedRecord(source, rec.offset, header.partition_leader_epoch,
                                       rec.timestamp, name, fields)
                    continue
                name, fields, decoded = _value(payload)
                yield DumpedRecord(source, rec.offset, header.partition_leader_epoch,
                                   rec.timestamp, name, fields, decoded)
    except InvalidBatchError as e:
        notes.append(f"{path.name}: torn or corrupt tail: {e}; the dump stops here")


def read_all(directory: Path, notes: list[str]) -> list[DumpedRecord]:
    """Snapshot records first, then the log from the snapshot's end offset."""
    pdir = partition_dir(directory)
    snapshots = sorted(
        (int(m[1]), int(m[2]), p) for p in pdir.iterdir()
        if (m := SNAPSHOT_RE.fullmatch(p.name)) is not None
    )
    out: list[DumpedRecord] = []
    start = 0
    if snapshots:
        end_offset, epoch, path = snapshots[-1]
        notes.append(f"snapshot {path.name}: end offset {end_offset}, epoch {epoch}")
        for rec in _records(path, "snapshot", 0, notes):
            out.append(msgspec.structs.replace(rec, offset=end_offset - 1, epoch=epoch))
        start = end_offset
    for segment in sorted(pdir.glob("*.log")):
        out.extend(_records(segment, "log", start, notes))
    return out


def dump(directory: str, as_json: bool) -> int:
    notes: list[str] = []
    try:
        records = read_all(Path(directory), notes)
    except OSError as e:
        print(f"kraft metadata dump: {e}", file=sys.stderr)
        return 1
    for rec in records:
        if as_json:
            obj = msgspec.structs.asdict(rec)
            obj.pop("decoded")
            print(msgspec.json.encode(obj).decode())
        else:
            when = datetime.datetime.fromtimestamp(rec.timestamp / 1000, datetime.UTC)
            fields = msgspec.json.encode(rec.record).decode()
            print(f"{rec.source:8} offset={rec.offset} epoch={rec.epoch} "
                  f"time={when:%Y-%m-%dT%H:%M:%S.%fZ} {rec.type} {fields}")
    for note in notes:
        print(f"# {note}", file=sys.stderr if as_json else sys.stdout)
    return 0


def replay(records: list[DumpedRecord], notes: list[str]) -> MetadataImage:
    delta = MetadataDelta(EMPTY)
    for rec in records:
        if rec.decoded is None:
            continue
        try:
            delta.replay(rec.decoded, rec.offset, rec.epoch)
        except MetadataReplayError as e:
            notes.append(f"offset {rec.offset}: cannot replay {rec.type}: {e}")
    return delta.apply()


def _table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title]
    for r in cells:
        row = "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
        lines.append(("  " + row).rstrip())
    if not rows:
        lines.append("  (none)")
    return "\n".join(lines)


def show(directory: str) -> int:
    notes: list[str] = []
    try:
        records = read_all(Path(directory), notes)
        pdir = partition_dir(Path(directory))
    except OSError as e:
        print(f"kraft metadata show: {e}", file=sys.stderr)
        return 1
    image = replay(records, notes)
    brokers = [[b.broker_id, b.broker_epoch, ",".join(f"{e.name}://{e.host}:{e.port}"
                                                      for e in b.endpoints),
                b.fenced, b.in_controlled_shutdown]
               for _, b in sorted(image.cluster.brokers.items())]
    controllers = [[c.controller_id, str(c.incarnation_id),
                    ",".join(f"{e.name}://{e.host}:{e.port}" for e in c.endpoints),
                    ",".join(f"{f.name}:{f.min_supported_version}-{f.max_supported_version}"
                             for f in c.features)]
                   for _, c in sorted(image.cluster.controllers.items())]
    partitions = [[t.name, str(t.topic_id), pid, p.leader, p.leader_epoch,
                   list(p.replicas), list(p.isr), p.partition_epoch,
                   _reassignment(p.adding_replicas, p.removing_replicas)]
                  for _, t in sorted(image.topics.by_name.items())
                  for pid, p in sorted(t.partitions.items())]
    configs = [[{2: "topic", 4: "broker"}.get(res.type, res.type), res.name, k, v]
               for res, values in sorted(image.configs.resources.items())
               for k, v in sorted(values.items())]
    features = [[name, level] for name, level in sorted(image.features.levels.items())]
    quorum_path = pdir / "quorum-state"
    quorum = quorum_path.read_text().strip() if quorum_path.exists() else "(none)"
    print(f"Metadata image at offset {image.provenance.offset}, "
          f"epoch {image.provenance.epoch} ({len(records)} records read)\n")
    print(_table("Brokers", ["id", "epoch", "endpoints", "fenced", "shutting down"], brokers))
    print()
    print(_table("Controllers", ["id", "incarnation", "endpoints", "features"], controllers))
    print()
    print(_table("Topics and partitions", ["topic", "id", "partition", "leader", "leader epoch",
                                            "replicas", "isr", "partition epoch",
                                            "reassigning"], partitions))
    print()
    print(_table("Configs", ["resource", "name", "key", "value"], configs))
    print()
    print(_table("Features", ["name", "level"], features))
    print(f"\nQuorum state: {quorum}")
    print(f"Next producer id: {image.producer_ids.next_producer_id}")
    for note in notes:
        print(f"# {note}")
    return 0


def _reassignment(adding: tuple[int, ...], removing: tuple[int, ...]) -> str:
    """A reassignment in progress (KIP-455), e.g. "+[4] -[1]"; "-" when none."""
    parts = ([f"+{list(adding)}"] if adding else []) + ([f"-{list(removing)}"] if removing else [])
    return " ".join(parts) or "-"
