"""Shared hypothesis strategies (STYLE.md 9): one place per kind of input.

Record batches (log/): `records()`, `record_lists()`, `batch_specs()` and
`record_batches()` build Kafka v2 batches with `log.records.build_batch`.
Sizes are kept small so that file-backed property tests stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from kraft.log.records import Record, build_batch

# Timestamps: NO_TIMESTAMP (-1) or milliseconds around "now", so deltas vary in sign.
TIMESTAMP_BASE = 1_700_000_000_000

small_bytes = st.binary(max_size=64)
nullable_bytes = st.none() | small_bytes
header_keys = st.text(max_size=8)
timestamps = st.just(-1) | st.integers(TIMESTAMP_BASE - 10_000, TIMESTAMP_BASE + 10_000)


@st.composite
def records(draw: st.DrawFn, timestamp: st.SearchStrategy[int] = timestamps) -> Record:
    """One record: nullable key and value, a few headers, a timestamp."""
    return Record(
        key=draw(nullable_bytes),
        value=draw(nullable_bytes),
        headers=tuple(draw(st.lists(st.tuples(header_keys, nullable_bytes), max_size=3))),
        timestamp=draw(timestamp),
    )


def record_lists(max_size: int = 6) -> st.SearchStrategy[list[Record]]:
    """Non-empty lists of records, as one batch holds."""
    return st.lists(records(), min_size=1, max_size=max_size)


@dataclass(frozen=True)
class BatchSpec:
    """Everything `build_batch` takes."""

    records: tuple[Record, ...]
    base_offset: int = 0
    partition_leader_epoch: int = -1
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1
    is_transactional: bool = False
    is_control: bool = False

    def build(self) -> bytes:
        return build_batch(
            self.records,
            base_offset=self.base_offset,
            partition_leader_epoch=self.partition_leader_epoch,
            producer_id=self.producer_id,
            producer_epoch=self.producer_epoch,
            base_sequence=self.base_sequence,
            is_transactional=self.is_transactional,
            is_control=self.is_control,
        )


@st.composite
def batch_specs(draw: st.DrawFn, max_records: int = 6, client: bool = False) -> BatchSpec:
    """Batch parameters. `client=True` gives what a producer may send (base offset
    0, no control flag, sequence >= 0 when a producer id is set)."""
    idempotent = draw(st.booleans())
    return BatchSpec(
        records=tuple(draw(record_lists(max_records))),
        base_offset=0 if client else draw(st.integers(0, 2**40)),
        partition_leader_epoch=-1 if client else draw(st.integers(-1, 2**31 - 1)),
        producer_id=draw(st.integers(0, 2**40)) if idempotent else -1,
        producer_epoch=draw(st.integers(0, 2**15 - 1)) if idempotent else -1,
        base_sequence=draw(st.integers(0, 2**31 - 1)) if idempotent else -1,
        is_transactional=idempotent and draw(st.booleans()),
        is_control=False if client else draw(st.booleans()),
    )


def record_batches(max_records: int = 6, client: bool = True) -> st.SearchStrategy[bytes]:
    """Encoded v2 batches (uncompressed, valid CRC)."""
    return batch_specs(max_records, client).map(BatchSpec.build)
