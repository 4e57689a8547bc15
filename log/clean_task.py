"""One compaction pass over one log, as the worker thread runs it (log.cleaner).

`CleanTask` is what `PartitionCleaner.begin` hands out: it builds the offset
map, then writes one group of segments per `run` as `.cleaned` files
(log.loader's `CleanedSegmentWriter`) for the owner's `complete` to swap in.
The rules it applies -- which records, batches and markers stay, the gap
batches, the `.txnindex` of each cleaned segment -- are log.cleaner's module
doc; the transaction bookkeeping is log.cleaner_txn's.

Thread-safety: `CleanTask.run` may run in a worker thread while the log's
owner keeps appending; it only reads the segments `begin` chose (through their
open fds) and writes its own files. Everything else is the owner's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from kraft.log.batch import (
    ATTRIBUTES_OFFSET,
    DELETE_HORIZON_FLAG,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    NO_TIMESTAMP,
    BatchHeader,
    iter_batches,
    parse_header,
)
from kraft.log.cleaner_txn import CleanedTransactionMetadata
from kraft.log.compression import RawRecord, empty_batch, gap_batch, open_records, seal_batch
from kraft.log.config import LogConfig
from kraft.log.crc import crc32c
from kraft.log.errors import CorruptSegmentError, InvalidBatchError
from kraft.log.fileio import read_exactly
from kraft.log.loader import CleanedSegmentWriter, cleaned_paths
from kraft.log.segment import I32_MAX, LogSegment
from kraft.log.txnindex import AbortedTxn

__all__ = ["CleanTask", "LastRecord", "Source", "Written"]

logger = logging.getLogger("kraft.log.cleaner")  # one logger for the cleaner's messages

MAP_ENTRY_OVERHEAD = 100  # dict slot, bytes object and int, beyond the key's own bytes
_READ_CHUNK = 1 << 20


class LastRecord(NamedTuple):
    """Kafka's `LastRecord` of an active producer (the broker's producer state): the
    last offset of its last data batch (-1: none at its current epoch, e.g. only
    a marker after an epoch bump) and its epoch."""

    last_data_offset: int
    producer_epoch: int


@dataclass(frozen=True, slots=True)
class Source:
    """An inactive segment as `begin` saw it (read by the worker through its fd)."""

    segment: LogSegment
    base_offset: int
    next_offset: int
    size: int
    txn_entries: tuple[AbortedTxn, ...]  # its .txnindex then: it must not change meanwhile


@dataclass(slots=True)
class Written:
    """A group's cleaned files, written by the worker, waiting for `complete`."""

    sources: list[Source]
    base_offset: int
    size: int
    swapped: bool = False


def _read_batches(source: Source) -> Iterator[tuple[BatchHeader, bytes]]:
    """(header, bytes) of every batch of a source segment, CRC checked."""
    fd = source.segment.handle.fileno()
    pos = 0
    while pos < source.size:
        buf = read_exactly(fd, min(_READ_CHUNK, source.size - pos), pos)
        consumed = 0
        try:
            found = list(iter_batches(buf, allow_partial_tail=True))
        except InvalidBatchError as e:
            raise CorruptSegmentError(f"{source.segment.path}: {e}") from e
        if not found:  # one batch larger than the chunk
            size = int.from_bytes(buf[8:12], "big", signed=True) + LOG_OVERHEAD
            if len(buf) < LOG_OVERHEAD or size < HEADER_SIZE or pos + size > source.size:
                raise CorruptSegmentError(f"{source.segment.path}: bad batch at byte {pos}")
            buf = read_exactly(fd, size, pos)
            if len(buf) != size or buf[16] != MAGIC:
                raise CorruptSegmentError(f"{source.segment.path}: bad batch at byte {pos}")
            found = [(0, parse_header(buf))]
        for at, header in found:
            data = buf[at : at + header.size]
            if crc32c.crc32c(memoryview(data)[ATTRIBUTES_OFFSET:]) != header.crc:
                raise CorruptSegmentError(f"{source.segment.path}: CRC mismatch at {pos + at}")
            yield header, data
            consumed = at + header.size
        pos += consumed


class CleanTask:
    """One pass over one log. `run` may execute in a worker thread (module doc);
    everything else about it is the owner's."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        sources: list[Source],
        first_dirty_offset: int,
        now_ms: int,
        generation: int,
        map_budget_bytes: int,
        last_records: Mapping[int, LastRecord] | None,
        aborted: list[AbortedTxn],
    ) -> None:
        self.directory = directory
        self.config = config
        self.sources = sources
        self.first_dirty_offset = first_dirty_offset
        self.now_ms = now_ms
        self.generation = generation
        self.map_budget_bytes = map_budget_bytes
        self.end_offset = first_dirty_offset
        self.groups: list[list[Source]] | None = None  # None until the map is built
        self.next_group = 0
        self.written: Written | None = None
        self.writer: CleanedSegmentWriter | None = None
        self.offset_map: dict[bytes, int] = {}
        self.last_records = last_records
        self.aborted_txns = aborted  # .txnindex entries overlapping the sources
        self.txn = CleanedTransactionMetadata(aborted)  # one walk over every group
        self.max_delete_horizon = NO_TIMESTAMP  # of the tombstones and markers kept so far
        self.abandoned = False
        self.stats = [0, 0, 0, 0, 0, 0]  # replaced, written, bytes r/w, records r/removed

    @property
    def finished(self) -> bool:
        """True once every group has been written and swapped in (or the pass aborted)."""
        return self.abandoned or (
            self.groups is not None and self.next_group >= len(self.groups) and self.written is None
        )

    def run(self) -> None:
        """Worker side: build the offset map on the first call, then write the next
        group's `.cleaned` files (fsynced) for the owner's `complete`."""
        if self.abandoned or self.written is not None:
            return
        if self.groups is None:
            self._build_offset_map()
            self._find_last_records()
            self.groups = self._group([s for s in self.sources if s.next_offset <= self.end_offset])
        if self.next_group < len(self.groups):
            group = self.groups[self.next_group]
            self.written = self._clean_group(group)
            self.next_group += 1

    # -- offset map --------------------------------------------------------------

    def _build_offset_map(self) -> None:
        used = 0
        mapped_dirty = False
        first_dirty = self.first_dirty_offset
        if self.sources and self.sources[0].base_offset >= first_dirty:
            self.end_offset = self.sources[0].base_offset
        # Aborted data never enters the map (Kafka's buildOffsetMap).
        txn = CleanedTransactionMetadata(
            e for e in self.aborted_txns if e.last_offset >= first_dirty
        )
        for source in self.sources:
            if source.next_offset <= first_dirty:
                self.end_offset = source.next_offset  # clean section
                continue
            segment_map: dict[bytes, int] = {}
            for header, data in _read_batches(source):
                if header.is_control:
                    txn.on_control(header, data)
                    continue
                if txn.on_batch(header) or header.last_offset < first_dirty:
                    continue
                for record in self._records(header, data) or ():
                    offset = header.base_offset + record.offset_delta
                    if record.key is not None and offset >= first_dirty:
                        segment_map[record.key] = offset
            added = sum(
                len(k) + MAP_ENTRY_OVERHEAD for k in segment_map if k not in self.offset_map
            )
            if mapped_dirty and used + added > self.map_budget_bytes:
                break  # the next pass goes on from end_offset
            self.offset_map.update(segment_map)
            used += added
            mapped_dirty = True
            self.end_offset = source.next_offset

    def _records(self, header: BatchHeader, data: bytes) -> list[RawRecord] | None:
        """The batch's records; None (logged) if they do not decode: such a batch is
        kept whole and not mapped. A missing codec package raises."""
        try:
            return open_records(data, header)
        except InvalidBatchError as e:
            logger.warning(
                "%s: batch at offset %d kept uncompacted: %s", self.directory, header.base_offset, e
            )
            return None

    def _find_last_records(self) -> None:
        """Without the broker's producer state, each producer id's `LastRecord` as the
        cleanable range shows it: conservative, as a later batch above the range
        only makes an earlier one not the last."""
        if self.last_records is not None:
            return
        data: dict[int, tuple[int, int]] = {}  # producer id -> last data offset, its epoch
        epochs: dict[int, int] = {}  # producer id -> epoch of its last batch
        for source in self.sources:
            for _, header in source.segment.batch_headers(0, source.size):
                if header.producer_id >= 0:
                    epochs[header.producer_id] = header.producer_epoch
                    if not header.is_control:
                        data[header.producer_id] = (header.last_offset, header.producer_epoch)
        self.last_records = {}
        for pid, epoch in epochs.items():
            offset, data_epoch = data.get(pid, (-1, epoch))
            self.last_records[pid] = LastRecord(offset if data_epoch == epoch else -1, epoch)

    def _is_last_of_producer(self, header: BatchHeader) -> bool:
        """Kafka's `isBatchLastRecordOfProducer`: the batch holding an active producer's
        last data offset, or, for one without data at its epoch, its marker of that
        epoch (it carries the epoch that fences zombies)."""
        last = (self.last_records or {}).get(header.producer_id)
        if last is None or header.producer_id < 0:
            return False
        if last.last_data_offset >= 0:
            return header.last_offset == last.last_data_offset
        return header.is_control and header.producer_epoch == last.producer_epoch

    def _group(self, sources: list[Source]) -> list[list[Source]]:
        """Kafka's `groupSegmentsBySize`: adjacent segments up to segment.bytes, offsets
        within an i32 of the group's base."""
        groups: list[list[Source]] = []
        for source in sources:
            group = groups[-1] if groups else None
            if (
                group is not None
                and sum(s.size for s in group) + source.size <= self.config.segment_bytes
                and source.next_offset - 1 - group[0].base_offset <= I32_MAX
            ):
                group.append(source)
            else:
                groups.append([source])
        return groups

    # -- cleaning ------------------------------------------------------------------

    def _clean_group(self, group: list[Source]) -> Written:
        base = group[0].base_offset
        writer = self.writer = CleanedSegmentWriter(self.directory, base, self.config)
        self.txn.retained_entries = []  # this group's .txnindex
        gap: list[int] | None = None  # [start, last, epoch] of dropped batches
        for source in group:
            self.stats[2] += source.size
            for header, data in _read_batches(source):
                kept = self._filter(header, data)
                if kept is None:
                    if gap is None:
                        gap = [
                            header.base_offset,
                            header.last_offset,
                            header.partition_leader_epoch,
                        ]
                    gap[1] = header.last_offset
                    continue
                if gap is not None:
                    writer.append(gap_batch(*gap))
                    gap = None
                writer.append(kept)
        if gap is not None:
            writer.append(gap_batch(*gap))
        if writer.next_offset != group[-1].next_offset:
            raise AssertionError(f"cleaned group ends at {writer.next_offset}, not its end")
        writer.finish(
            max(os.fstat(s.segment.handle.fileno()).st_mtime_ns for s in group),
            self.txn.retained_entries,
        )
        self.writer = None
        self.stats[1] += 1
        self.stats[3] += writer.position
        return Written(group, base, writer.position)

    def _filter(self, header: BatchHeader, data: bytes) -> bytes | None:
        """The batch as it stays after cleaning, or None if it goes (module doc)."""
        if header.is_control:
            return self._filter_control(header, data)
        if self.txn.on_batch(header):  # aborted: every record goes
            self.stats[4] += header.records_count
            self.stats[5] += header.records_count
            return self._emptied(header, data)
        records = self._records(header, data)
        if records is None:
            return data
        horizon = header.base_timestamp if header.attributes & DELETE_HORIZON_FLAG else None
        expired = horizon is not None and self.now_ms >= horizon
        offset_map = self.offset_map
        kept: list[RawRecord] = []
        tombstones = False
        for record in records:
            key = record.key
            if key is not None:
                latest = offset_map.get(key)
                if latest is not None and header.base_offset + record.offset_delta < latest:
                    continue
                if not record.has_value:
                    if expired:
                        continue
                    tombstones = True
            kept.append(record)
        self.stats[4] += len(records)
        self.stats[5] += len(records) - len(kept)
        if not kept:
            return self._emptied(header, data)
        if tombstones:
            if horizon is None:
                horizon = self.now_ms + self.config.delete_retention_ms
            self.max_delete_horizon = max(self.max_delete_horizon, horizon)
            if not header.attributes & DELETE_HORIZON_FLAG:
                return seal_batch(header, kept, horizon)
        if len(kept) == len(records):
            return data
        return seal_batch(header, kept, horizon)

    def _emptied(self, header: BatchHeader, data: bytes) -> bytes | None:
        """A data batch left without records: kept empty if it is its producer's last
        (Kafka's RETAIN_EMPTY, so the producer's sequence survives), else gone."""
        if self._is_last_of_producer(header):
            return data if header.records_count == 0 else empty_batch(header)
        return None

    def _filter_control(self, header: BatchHeader, data: bytes) -> bytes | None:
        """A marker stays while its transaction has data; once that is gone it gets a
        delete horizon (now + delete.retention.ms, KIP-534) and goes with the first
        pass at or after it -- unless it is its producer's last record, which Kafka
        keeps empty and this log keeps whole (producer state is replayed from the
        marker's record)."""
        self.stats[4] += header.records_count
        discardable = self.txn.on_control(header, data)
        if not discardable:
            return data
        retained = self._is_last_of_producer(header)
        if header.attributes & DELETE_HORIZON_FLAG:
            horizon = header.base_timestamp
            if retained:
                return data
            if self.now_ms >= horizon:
                self.stats[5] += header.records_count
                return None
            self.max_delete_horizon = max(self.max_delete_horizon, horizon)
            return data
        if header.records_count == 0:
            return data if retained else None
        records = self._records(header, data)
        if records is None:
            return data
        horizon = self.now_ms + self.config.delete_retention_ms
        if not retained:
            self.max_delete_horizon = max(self.max_delete_horizon, horizon)
        return seal_batch(header, records, horizon)

    def discard_files(self) -> None:
        """Delete `.cleaned` files not swapped in (abort)."""
        if self.writer is not None:
            self.writer.discard()
            self.writer = None
        if self.written is not None and not self.written.swapped:
            for path in cleaned_paths(self.directory, self.written.base_offset):
                path.unlink(missing_ok=True)
        self.written = None
