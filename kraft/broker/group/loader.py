"""Rebuilding a coordinator's state from one `__consumer_offsets` partition.

When this broker becomes leader of a `__consumer_offsets` partition, the
groups that hash to it are read back from its log: every record from the
log start offset to the log end offset is replayed in order, later records
replacing earlier ones with the same key and tombstones (null values)
deleting them, which is what compaction would leave behind anyway. The
result is the last GroupMetadataValue of each live group and the last
committed offset of each (group, topic, partition).

We read up to the log end offset, not the high watermark, as Kafka does: as
leader our log is the truth, and what lies above the high watermark becomes
committed unless we lose leadership, in which case this state is dropped.

Reading is chunked (LOAD_CHUNK_BYTES per read, file reads in a worker
thread); replay runs on the trio loop between reads. Records of
transactional batches (TxnOffsetCommit) are held per producer until its
marker: a commit replays them there, an abort drops them; those still open
at the end are the shard's pending transactional offsets. Compressed
batches are never written by the coordinator; one found here is logged
and skipped rather than guessed at. Records whose key is not a classic-group
record (KIP-848 and later types) are skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import trio

from kraft.broker.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    OffsetCommitKey,
    OffsetCommitValue,
    RecordFormatError,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
)
from kraft.log.batch import Buffer, iter_batches
from kraft.log.control import read_end_txn_marker
from kraft.log.errors import InvalidBatchError
from kraft.log.log import PartitionLog
from kraft.log.records import iter_records

log = logging.getLogger("kraft.broker.group")

LOAD_CHUNK_BYTES = 4 << 20
TopicPartition = tuple[str, int]


@dataclass(slots=True)
class LoadedState:
    """The live contents of one `__consumer_offsets` partition."""

    groups: dict[str, GroupMetadataValue] = field(default_factory=dict)
    offsets: dict[str, dict[TopicPartition, OffsetCommitValue]] = field(default_factory=dict)
    records: int = 0
    skipped: int = 0
    # producer id -> records of its open transaction (TxnOffsetCommit), in order
    pending_txn: dict[int, list[tuple[bytes | None, bytes | None]]] = field(
        default_factory=dict)

    def group_ids(self) -> set[str]:
        """Groups with metadata or offsets (a group with only offsets is a
        simple consumer's, or one whose metadata was deleted)."""
        return set(self.groups) | {g for g, offsets in self.offsets.items() if offsets}

    def replay(self, key_bytes: bytes | None, value: bytes | None) -> None:
        """Apply one record; malformed records raise RecordFormatError."""
        self.records += 1
        if key_bytes is None:
            raise RecordFormatError("record without a key")
        key = decode_key(key_bytes)
        if key is None:
            self.skipped += 1
        elif isinstance(key, OffsetCommitKey):
            offsets = self.offsets.setdefault(key.group, {})
            tp = (key.topic, key.partition)
            if value is None:
                offsets.pop(tp, None)
            else:
                offsets[tp] = decode_offset_commit_value(value)
        elif isinstance(key, GroupMetadataKey):
            if value is None:
                self.groups.pop(key.group, None)
            else:
                self.groups[key.group] = decode_group_metadata_value(value)

    def replay_batches(self, data: Buffer) -> int:
        """Replay every whole batch in `data`; return the offset after the last one
        (-1 if `data` holds no whole batch)."""
        next_offset = -1
        for pos, header in iter_batches(data, allow_partial_tail=True):
            next_offset = header.last_offset + 1
            if header.is_control:
                self._end_transaction(data, pos, header.producer_id)
                continue
            if header.compression:
                log.error("skipping a compressed batch at offset %d of __consumer_offsets",
                          header.base_offset)
                self.skipped += header.records_count
                continue
            for record in iter_records(data, pos):
                if header.is_transactional:
                    self.pending_txn.setdefault(header.producer_id, []).append(
                        (record.key, record.value))
                    continue
                try:
                    self.replay(record.key, record.value)
                except RecordFormatError as e:
                    log.error("skipping malformed __consumer_offsets record at offset %d: %s",
                              record.offset, e)
                    self.skipped += 1
        return next_offset


    def _end_transaction(self, data: Buffer, pos: int, producer_id: int) -> None:
        """A marker: a commit replays the producer's pending offset commits, an
        abort drops them."""
        try:
            marker = read_end_txn_marker(data, pos)
        except InvalidBatchError as e:
            log.error("skipping an unreadable control batch of __consumer_offsets: %s", e)
            return
        if marker is None:
            return
        for key, value in self.pending_txn.pop(producer_id, []) if marker.committed else []:
            try:
                self.replay(key, value)
            except RecordFormatError as e:
                log.error("skipping malformed transactional __consumer_offsets record: %s", e)
                self.skipped += 1
        self.pending_txn.pop(producer_id, None)

    def pending_offsets(self) -> dict[int, dict[str, dict[TopicPartition, OffsetCommitValue]]]:
        """The offset commits of transactions still open at the end of the log."""
        out: dict[int, dict[str, dict[TopicPartition, OffsetCommitValue]]] = {}
        for producer_id, records in self.pending_txn.items():
            for key_bytes, value in records:
                try:
                    key = decode_key(key_bytes) if key_bytes is not None else None
                    if isinstance(key, OffsetCommitKey) and value is not None:
                        out.setdefault(producer_id, {}).setdefault(key.group, {})[
                            (key.topic, key.partition)] = decode_offset_commit_value(value)
                except RecordFormatError as e:
                    log.error("skipping malformed transactional offset commit: %s", e)
        return out


async def load_partition(partition_log: PartitionLog) -> LoadedState:
    """Replay `partition_log` from its log start offset to its current log end
    offset. Call on the log's owner (the trio loop); the log must not be
    appended to meanwhile (the coordinator answers COORDINATOR_LOAD_IN_PROGRESS)."""
    state = LoadedState()
    offset = partition_log.log_start_offset
    end = partition_log.log_end_offset
    while offset < end:
        info = partition_log.read(offset, LOAD_CHUNK_BYTES, end, min_one_message=True)
        data = await trio.to_thread.run_sync(info.to_bytes)
        try:
            next_offset = state.replay_batches(memoryview(data))
        except InvalidBatchError as e:
            log.error("__consumer_offsets log unreadable at offset %d: %s", offset, e)
            raise
        if next_offset <= offset:
            break  # nothing whole left below the end
        offset = next_offset
        await trio.sleep(0)
    return state
