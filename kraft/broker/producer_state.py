"""Idempotent-producer state of one partition (Kafka's ProducerStateManager).

Theory of operation. For every producer id that has written to the partition
we keep a `ProducerStateEntry`: its current producer epoch, the metadata of
its last `NUM_BATCHES_TO_RETAIN` (5, the largest max.in.flight.requests.per.
connection an idempotent producer may use) batches -- first/last sequence,
first/last offset, max timestamp -- and its last timestamp. The partition
leader asks `check` before appending a produce request and calls `update`
after the append; followers and log replay call `update` only. Everything
needed is in the v2 batch header (log.batch), so compressed batches are never
opened.

Calling protocol (leader, one produce request for this partition):

1. After the batches are validated (framing, CRC: log.batch; Kafka checks
   those first, so a corrupt batch gets CORRUPT_MESSAGE rather than a
   sequence error) and before anything is written: `check(producer_id,
   producer_epoch, base_sequence, last_offset_delta)` for the batch (Produce
   v3+ carries one per partition), or `check_batches(headers)` for several.
   No state changes. APPEND: go ahead. DUPLICATE: write nothing; answer
   error NONE with `Check.duplicate`'s offsets. ERROR: write nothing; answer
   `Check.error`.
2. Append to the log (`PartitionLog.append_as_leader`).
3. On success, `update(producer_id, producer_epoch, base_sequence,
   last_offset_delta, first_offset, max_timestamp)` once per batch that
   carries a producer id, in offset order, with the offsets the log assigned
   and the maxTimestamp the log stored (the append time for LogAppendTime).
   Nothing else may append to the partition between 1 and 3 (no await in
   between), or the check is stale.

Followers call `update_batch(header)` for each batch they append (headers
carry the leader's offsets). On a segment roll and on clean shutdown the
owner calls `take_snapshot(log_end_offset)`; after follower truncation
`truncate_to(offset, log)`; after `truncate_fully_and_start_at`,
`truncate_fully()`; every producer.id.expiration.check.interval.ms (Kafka:
10 minutes) `remove_expired(now_ms)`. A new manager is empty; `load(log)`
rebuilds the state of an existing log (at open, and on becoming leader or
follower if the state may be stale).

Check rules (Kafka's `ProducerAppendInfo`, `ProducerStateEntry`), in order:

* base sequence < 0: INVALID_RECORD (87), as Kafka's LogValidator.
* Same epoch as the stored entry and the exact (first, last) sequence range
  of one of the retained batches: DUPLICATE. Kafka answers it with error
  NONE, the original batch's base offset, and log_append_time = the original
  batch's max timestamp.
* Epoch below the current one: INVALID_PRODUCER_EPOCH (47) (KIP-588; Kafka
  replaced PRODUCER_FENCED on the produce path in 2.7).
* Epoch above the current one (a bump, KIP-360): the sequence must restart
  at 0, else OUT_OF_ORDER_SEQUENCE_NUMBER (45).
* Same epoch: the base sequence must follow the last one (2**31-1 wraps to
  0, Kafka's `incrementSequence`), else OUT_OF_ORDER_SEQUENCE_NUMBER. A
  retry of a batch older than the last 5 therefore gets OUT_OF_ORDER, as in
  Kafka.
* Unknown producer id (never seen, expired, or its state lost with deleted
  segments): any sequence is accepted. Brokers before 2.5 answered
  UNKNOWN_PRODUCER_ID (59) to a non-zero first sequence; since KIP-360
  (Kafka 2.5+, `checkSequence`: "accept writes with any sequence number"
  when there is no current producer epoch) the broker accepts, and clients
  treat state loss through retention as benign. We follow current Kafka and
  never return UNKNOWN_PRODUCER_ID.

Several batches of one request (Produce v3+ sends one per partition, but the
check is correct for more): each batch is checked against the state as if the
earlier ones of the request had been appended. Duplicates are looked up in the
stored state only (as Kafka), and the first batch that is not APPEND decides
the answer for the request. Kafka differs in two corners nobody reaches (real
clients send one batch per partition and epochs >= 0): for an unknown producer
it accepts any sequence for every batch of the request, where we require the
later batches to follow the first; and it accepts any sequence from a
producer whose stored epoch is -1, where we check sequences as for any epoch.

Expiry (`remove_expired`): a producer whose last timestamp is
`producer.id.expiration.ms` (default 86400000) or more before `now_ms` is
forgotten. As in Kafka the last timestamp is the max timestamp of the
producer's last batch as stored in the log (CreateTime from the client, or
the broker's LogAppendTime), not a wall-clock reading: state rebuilt from the
log is then exactly the state built incrementally.

Snapshot files: `<offset, 20 digits>.snapshot` in the partition directory
(Kafka's names; our own content). A snapshot at offset N holds the state
after every batch below N::

    bytes 0-3   CRC32C (Castagnoli) of bytes 4..end, u32 big-endian
    bytes 4..   msgpack (msgspec) map {version: 1, offset: N, producers:
                [{producer_id, producer_epoch, last_timestamp,
                  batches: [[first_seq, last_seq, first_offset,
                             last_offset, max_timestamp], ...]}, ...]}

Files are written with `kraft.log.checkpoint.atomic_write` (tmp, fsync, rename,
fsync dir) and the latest `SNAPSHOTS_TO_RETAIN` (2) are kept. Snapshots at a
segment roll are written without the fsyncs by one background thread
(`take_snapshot(in_background=True)`), in order; whatever lists or deletes
snapshot files waits for it first. Unlike Kafka's
(which keeps one batch per producer) a snapshot keeps all 5 retained batches,
so duplicates are still recognised after a restart.

Crash behaviour and loading (`load`): snapshots above the log end offset are
deleted and the directory fsynced (they describe truncated or lost data, and
must not come back after a crash once the log has grown past them again).
Then the newest remaining snapshot is read. One that fails its CRC, does not
parse, or names another offset than its file is logged, deleted and never
trusted; the next older one is tried, and with none left the state starts
empty. The headers of every batch from max(snapshot offset, log start
offset) to the log end are then replayed (control batches and batches without
a producer id skipped), so a lost or stale snapshot only costs time. Producer
state below the log start offset survives only in snapshots (KIP-360 keeps
state when segments are deleted). Stale `*.snapshot.tmp` files are removed.

Transactions (KIP-98; Kafka's `ProducerAppendInfo.appendDataBatch`,
`appendEndTxnMarker`, `ProducerStateManager.completeTxn`). A transactional
batch from a producer without an ongoing transaction begins one at its first
offset (`current_txn_first_offset`); a non-transactional batch while one is
ongoing is INVALID_TXN_STATE. A marker (control batch, log.control) from the
coordinator ends it: `check_marker` refuses an older producer epoch
(INVALID_PRODUCER_EPOCH) or coordinator epoch (TRANSACTION_COORDINATOR_FENCED);
`update_marker` returns the `CompletedTxn` (None for a marker without data:
it changes no offset). A completed transaction stays "unreplicated", and so
still holds the last stable offset back, until the high watermark passes its
marker (`on_high_watermark_updated`): a read_committed consumer never sees
the data of a transaction whose marker could still be truncated away.
`first_unstable_offset` is the first offset of the oldest ongoing or
unreplicated transaction; the partition's last stable offset is
min(that, high watermark). The aborted-transaction index entries (log.
txnindex) are the caller's to append, with `CompletedTxn.last_stable_offset`;
`load` appends those of the markers it replays, which rebuilds entries lost
with unflushed data. To replay every unflushed marker, `load` starts from
the newest snapshot at or below the log's recovery point when there is one
(snapshots are taken at every roll); otherwise from the newest, and a marker
between the recovery point and that snapshot whose entry was lost in a
machine crash is not indexed again (not done). Producers with
an ongoing transaction never expire (Kafka's `isProducerExpired`). Snapshots
carry `current_txn_first_offset` and `coordinator_epoch` (fields default to
-1, so older snapshots still load).

Transaction verification (KIP-890 part 1; Kafka's VerificationStateEntry).
Before the first transactional batch of a producer's transaction is appended
here, the partition leader asks the transaction coordinator whether the
partition is in the producer's ongoing transaction. `start_verification`
hands out the guard for that question (None when the producer already has an
ongoing transaction here at the batch's epoch: nothing to verify); the append passes it back to
`check`, which refuses a transactional batch that would begin a transaction
unless its guard is the one still stored (INVALID_TXN_STATE, "Record was not
part of an ongoing transaction"). Any transactional batch or marker of the
producer clears the guard: a request verified for a transaction whose marker
has landed meanwhile can no longer begin a new transaction here (the
Bufstream / KAFKA-17754 hazard of a delayed produce joining the next
transaction). Guards live in memory only; losing them (a restart, a new
leader) costs a re-verification, never a wrong append.

Thread-safety: single owner. Every method must be called by the task that
owns the partition; nothing here awaits or locks.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import MappingProxyType

import msgspec
from kio.schema.errors import ErrorCode

from kraft.log.batch import BatchHeader, Buffer, iter_batches
from kraft.log.checkpoint import TMP_SUFFIX, atomic_write, fsync_dir
from kraft.log.control import EndTxnMarker, read_end_txn_marker
from kraft.log.crc import crc32c
from kraft.log.errors import InvalidBatchError
from kraft.log.log import PartitionLog
from kraft.log.txnindex import AbortedTxn

__all__ = [
    "DEFAULT_PRODUCER_ID_EXPIRATION_MS",
    "NOT_REQUIRED",
    "NUM_BATCHES_TO_RETAIN",
    "SNAPSHOTS_TO_RETAIN",
    "BatchMetadata",
    "Check",
    "CheckOutcome",
    "CompletedTxn",
    "NotRequired",
    "ProducerStateEntry",
    "ProducerStateManager",
    "VerificationGuard",
    "increment_sequence",
    "snapshot_file_name",
]

logger = logging.getLogger(__name__)

NUM_BATCHES_TO_RETAIN = 5
SNAPSHOTS_TO_RETAIN = 2
DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000
SEQUENCE_MAX = 2**31 - 1
SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOT_VERSION = 1
_SNAPSHOT_NAME = re.compile(r"^(\d{20})\.snapshot$")
_CRC = struct.Struct(">I")
_REPLAY_READ_BYTES = 1 << 20


def increment_sequence(sequence: int, increment: int) -> int:
    """`sequence + increment`, wrapping past 2**31-1 to 0 (Kafka's `incrementSequence`)."""
    if sequence > SEQUENCE_MAX - increment:
        return increment - (SEQUENCE_MAX - sequence) - 1
    return sequence + increment


def snapshot_file_name(offset: int) -> str:
    """`<offset, 20 digits>.snapshot`, Kafka's producer snapshot name."""
    return f"{offset:020d}{SNAPSHOT_SUFFIX}"


class BatchMetadata(msgspec.Struct, frozen=True, array_like=True):
    """One appended batch of a producer: sequences and offsets inclusive."""

    first_sequence: int
    last_sequence: int
    first_offset: int
    last_offset: int
    max_timestamp: int  # as stored in the log (LogAppendTime if the topic uses it)


class ProducerStateEntry(msgspec.Struct, frozen=True):
    """What we know of one producer id. `batches` is oldest first, 0..5 long (0 when
    only a marker was seen at this epoch); `current_txn_first_offset` is the first
    offset of its ongoing transaction (-1: none); `coordinator_epoch` that of the
    last marker (-1: none)."""

    producer_id: int
    producer_epoch: int
    last_timestamp: int
    batches: tuple[BatchMetadata, ...]
    current_txn_first_offset: int = -1
    coordinator_epoch: int = -1

    @property
    def last_sequence(self) -> int:
        """Last sequence at this epoch, -1 (so 0 comes next) when none."""
        return self.batches[-1].last_sequence if self.batches else -1

    def find_duplicate(self, first_sequence: int, last_sequence: int) -> BatchMetadata | None:
        """The retained batch with exactly this sequence range (the oldest if several)."""
        for batch in self.batches:
            if batch.first_sequence == first_sequence and batch.last_sequence == last_sequence:
                return batch
        return None


class CompletedTxn(msgspec.Struct, frozen=True):
    """A transaction ended by a marker at `last_offset` (Kafka's CompletedTxn);
    `last_stable_offset` is the partition's once it completed (for log.txnindex)."""

    producer_id: int
    first_offset: int
    last_offset: int
    aborted: bool
    last_stable_offset: int

    def aborted_txn(self) -> AbortedTxn:
        return AbortedTxn(
            self.producer_id, self.first_offset, self.last_offset, self.last_stable_offset
        )


class _Snapshot(msgspec.Struct):
    version: int
    offset: int
    producers: list[ProducerStateEntry]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Snapshot)


class CheckOutcome(Enum):
    APPEND = "append"
    DUPLICATE = "duplicate"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Check:
    """The verdict on a produce request's batches (see the module doc for the rules).

    APPEND: `error` and `duplicate` are None. DUPLICATE: `duplicate` is the
    original batch (answer with error NONE and its first_offset; Kafka reports
    its max_timestamp as log_append_time). ERROR: `error` is the Kafka error
    code and `message` says why.
    """

    outcome: CheckOutcome
    error: ErrorCode | None = None
    duplicate: BatchMetadata | None = None
    message: str | None = None


APPEND = Check(CheckOutcome.APPEND)


def _error(code: ErrorCode, message: str) -> Check:
    return Check(CheckOutcome.ERROR, code, None, message)


class VerificationGuard:
    """Identity token of one transaction verification (compared with `is`)."""

    __slots__ = ()


class NotRequired:
    """The type of NOT_REQUIRED."""

    __slots__ = ()


NOT_REQUIRED = NotRequired()
"""`check(verification=NOT_REQUIRED)`: no transaction verification (followers,
the coordinators' own writes, verification disabled)."""


class CorruptSnapshotError(Exception):
    """A producer snapshot that fails its CRC or does not parse."""


class ProducerStateManager:
    """Producer state of one partition; `directory` (the partition directory)
    holds its snapshot files. A new manager is empty: call `load` to rebuild
    the state of an existing log."""

    def __init__(
        self,
        directory: Path,
        *,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    ) -> None:
        self.dir = Path(directory)
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self._producers: dict[int, ProducerStateEntry] = {}
        self._map_end_offset = 0
        # first offset -> producer id, of ongoing transactions (ascending offsets)
        self._ongoing: dict[int, int] = {}
        # first offset -> last offset, of completed ones not yet below the high watermark
        self._unreplicated: dict[int, int] = {}
        # producer id -> (guard, epoch) of a transaction verification in progress
        self._verifications: dict[int, tuple[VerificationGuard, int]] = {}

    # -- state ------------------------------------------------------------------

    @property
    def producers(self) -> Mapping[int, ProducerStateEntry]:
        """Read-only view: producer id -> entry."""
        return MappingProxyType(self._producers)

    def entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self._producers.get(producer_id)

    @property
    def first_unstable_offset(self) -> int | None:
        """First offset of the oldest ongoing or unreplicated transaction, None if none."""
        firsts = [*self._ongoing, *self._unreplicated]
        return min(firsts) if firsts else None

    @property
    def ongoing_transactions(self) -> Mapping[int, int]:
        """Read-only view: first offset -> producer id of each ongoing transaction."""
        return MappingProxyType(self._ongoing)

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        """Completed transactions whose marker is below `high_watermark` stop holding
        the last stable offset back."""
        done = [first for first, last in self._unreplicated.items() if last < high_watermark]
        for first in done:
            del self._unreplicated[first]

    @property
    def map_end_offset(self) -> int:
        """Every batch below this offset has been recorded (Kafka's mapEndOffset)."""
        return self._map_end_offset

    # -- transaction verification (KIP-890) ---------------------------------------

    def start_verification(self, producer_id: int, producer_epoch: int
                           ) -> VerificationGuard | None:
        """The guard for verifying a transactional batch of `producer_id` before its
        append, or None if its transaction is already ongoing here (no verification
        needed). An existing guard of the same or a newer epoch is reused (several
        requests may verify at once); an older one is replaced."""
        if self.has_ongoing_transaction(producer_id, producer_epoch):
            return None
        current = self._verifications.get(producer_id)
        if current is not None and current[1] >= producer_epoch:
            return current[0]
        guard = VerificationGuard()
        self._verifications[producer_id] = (guard, producer_epoch)
        return guard

    def has_ongoing_transaction(self, producer_id: int, producer_epoch: int) -> bool:
        """The producer has a transaction ongoing here at this epoch (Kafka 4's
        hasOngoingTransaction: a batch of a newer epoch -- transaction version 2's
        next transaction -- must not join the ongoing one before its marker)."""
        entry = self._producers.get(producer_id)
        return (entry is not None and entry.current_txn_first_offset >= 0
                and entry.producer_epoch == producer_epoch)

    def verification_guard(self, producer_id: int) -> VerificationGuard | None:
        """The stored guard of `producer_id`, None if none."""
        current = self._verifications.get(producer_id)
        return None if current is None else current[0]

    # -- check --------------------------------------------------------------------

    def check(
        self,
        producer_id: int,
        producer_epoch: int,
        base_sequence: int,
        last_offset_delta: int,
        is_transactional: bool = False,
        *,
        check_sequence: bool = True,
        verification: VerificationGuard | NotRequired | None = NOT_REQUIRED,
    ) -> Check:
        """The verdict on one batch (header fields) before it is appended; no state change.

        `producer_id` must be >= 0 (batches without a producer id need no check).
        `check_sequence=False` (a coordinator's own transactional writes, Kafka's
        AppendOrigin.COORDINATOR) checks the epoch and transaction state only.
        `verification` other than NOT_REQUIRED (the guard from `start_verification`,
        or None when the caller has none) requires a transactional batch that would
        begin a transaction here to carry the stored guard (module doc).
        """
        if check_sequence:
            verdict = self._check(producer_id, producer_epoch, base_sequence,
                                  last_offset_delta, None)
        else:
            entry = self._producers.get(producer_id)
            verdict = APPEND
            if entry is not None and producer_epoch < entry.producer_epoch:
                verdict = _error(
                    ErrorCode.invalid_producer_epoch,
                    f"producer {producer_id} epoch {producer_epoch} is older than the current "
                    f"epoch {entry.producer_epoch}",
                )
        if (verdict.outcome is CheckOutcome.APPEND and is_transactional
                and not isinstance(verification, NotRequired)):
            ongoing = self.has_ongoing_transaction(producer_id, producer_epoch)
            if not ongoing and (verification is None
                                or verification is not self.verification_guard(producer_id)):
                return _error(ErrorCode.invalid_txn_state,
                              "Record was not part of an ongoing transaction")
        if verdict.outcome is CheckOutcome.APPEND and not is_transactional:
            entry = self._producers.get(producer_id)
            if entry is not None and entry.current_txn_first_offset >= 0:
                return _error(
                    ErrorCode.invalid_txn_state,
                    f"Expected transactional write from producer {producer_id}: its "
                    f"transaction began at offset {entry.current_txn_first_offset}",
                )
        return verdict

    def check_marker(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int
    ) -> Check:
        """The verdict on a transaction marker from the coordinator (WriteTxnMarkers);
        no state change. Kafka's `checkProducerEpoch` and `checkCoordinatorEpoch`."""
        entry = self._producers.get(producer_id)
        if entry is None:
            return APPEND
        if producer_epoch < entry.producer_epoch:
            return _error(
                ErrorCode.invalid_producer_epoch,
                f"marker epoch {producer_epoch} of producer {producer_id} is older than "
                f"the last seen epoch {entry.producer_epoch}",
            )
        if coordinator_epoch < entry.coordinator_epoch:
            return _error(
                ErrorCode.transaction_coordinator_fenced,
                f"Invalid coordinator epoch for producerId {producer_id}: "
                f"{coordinator_epoch} (zombie), {entry.coordinator_epoch} (current)",
            )
        return APPEND

    def check_batches(self, headers: Iterable[BatchHeader]) -> Check:
        """The verdict on a request's batches, in order, each checked as if the earlier
        ones had been appended; the first that is not APPEND decides. Control batches
        and batches without a producer id are skipped. No state change."""
        pending: dict[int, tuple[int, int]] = {}
        for header in headers:
            producer_id = header.producer_id
            if producer_id < 0 or header.is_control:
                continue
            verdict = self._check(
                producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.last_offset_delta,
                pending.get(producer_id),
            )
            if verdict is not APPEND:
                return verdict
            pending[producer_id] = (
                header.producer_epoch,
                increment_sequence(header.base_sequence, header.last_offset_delta),
            )
        return APPEND

    def _check(
        self,
        producer_id: int,
        epoch: int,
        first_sequence: int,
        last_offset_delta: int,
        pending: tuple[int, int] | None,
    ) -> Check:
        """Kafka's duplicate lookup, then `checkProducerEpoch` and `checkSequence`.

        `pending` is (epoch, last sequence) after earlier batches of the same
        request, which are not in the stored state yet.
        """
        if producer_id < 0:
            raise ValueError(f"producer id {producer_id}: batches without one need no check")
        if first_sequence < 0:
            return _error(
                ErrorCode.invalid_record,
                f"invalid sequence {first_sequence} for producer {producer_id}",
            )
        last_sequence = increment_sequence(first_sequence, last_offset_delta)
        entry = self._producers.get(producer_id)
        if entry is not None and entry.producer_epoch == epoch:
            duplicate = entry.find_duplicate(first_sequence, last_sequence)
            if duplicate is not None:
                return Check(CheckOutcome.DUPLICATE, None, duplicate)
        if pending is not None:
            current_epoch, current_last = pending
        elif entry is not None:
            current_epoch, current_last = entry.producer_epoch, entry.last_sequence
        else:
            return APPEND  # unknown producer: any epoch, any sequence (KIP-360)
        if epoch < current_epoch:
            return _error(
                ErrorCode.invalid_producer_epoch,
                f"producer {producer_id} epoch {epoch} is older than the current "
                f"epoch {current_epoch}",
            )
        if epoch != current_epoch:
            if first_sequence != 0:
                return _error(
                    ErrorCode.out_of_order_sequence_number,
                    f"producer {producer_id} new epoch {epoch} must start at sequence 0, "
                    f"not {first_sequence} (current epoch {current_epoch})",
                )
            return APPEND
        if first_sequence != increment_sequence(current_last, 1):
            return _error(
                ErrorCode.out_of_order_sequence_number,
                f"producer {producer_id} epoch {epoch}: sequence {first_sequence} does not "
                f"follow {current_last}",
            )
        return APPEND

    # -- update -------------------------------------------------------------------

    def update(
        self,
        producer_id: int,
        producer_epoch: int,
        base_sequence: int,
        last_offset_delta: int,
        first_offset: int,
        max_timestamp: int,
        is_transactional: bool = False,
    ) -> None:
        """Record a batch appended at offsets [first_offset, first_offset +
        last_offset_delta] with the header's maxTimestamp as stored in the log;
        a transactional one begins a transaction if none is ongoing.

        Calls must come in offset order (ValueError otherwise: a bug of the
        caller). No validation: the leader checked first, and a follower or
        replay takes the leader's word (Kafka's REPLICATION origin).
        """
        if producer_id < 0:
            raise ValueError(f"producer id {producer_id}: only batches with one are recorded")
        if first_offset < self._map_end_offset or last_offset_delta < 0:
            raise ValueError(
                f"batch at {first_offset} (delta {last_offset_delta}) is not after the "
                f"recorded end offset {self._map_end_offset}"
            )
        last_offset = first_offset + last_offset_delta
        batch = BatchMetadata(
            base_sequence,
            increment_sequence(base_sequence, last_offset_delta),
            first_offset,
            last_offset,
            max_timestamp,
        )
        entry = self._producers.get(producer_id)
        if entry is None or entry.producer_epoch != producer_epoch:
            batches: tuple[BatchMetadata, ...] = (batch,)
        else:
            batches = (*entry.batches[-(NUM_BATCHES_TO_RETAIN - 1) :], batch)
        txn_first = entry.current_txn_first_offset if entry is not None else -1
        if is_transactional:
            self._verifications.pop(producer_id, None)
        if is_transactional and txn_first < 0:
            txn_first = first_offset
            self._ongoing[first_offset] = producer_id
        self._producers[producer_id] = ProducerStateEntry(
            producer_id,
            producer_epoch,
            max_timestamp,
            batches,
            txn_first,
            entry.coordinator_epoch if entry is not None else -1,
        )
        self._map_end_offset = last_offset + 1

    def update_marker(
        self,
        producer_id: int,
        producer_epoch: int,
        marker: EndTxnMarker,
        offset: int,
        timestamp: int,
    ) -> CompletedTxn | None:
        """Record the marker appended at `offset`; return the transaction it ends
        (None if the producer had no data in one here). An epoch change clears the
        retained batches, as any new epoch does."""
        if offset < self._map_end_offset:
            raise ValueError(f"marker at {offset} is below the recorded end {self._map_end_offset}")
        self._verifications.pop(producer_id, None)
        entry = self._producers.get(producer_id)
        completed = None
        if entry is not None and entry.current_txn_first_offset >= 0:
            first = entry.current_txn_first_offset
            # Kafka's lastStableOffset(completedTxn): the next ongoing transaction's start.
            others = [f for f, pid in self._ongoing.items() if pid != producer_id]
            completed = CompletedTxn(
                producer_id,
                first,
                offset,
                not marker.committed,
                min(others) if others else offset + 1,
            )
            self._ongoing.pop(first, None)
            self._unreplicated[first] = offset
        batches = (
            entry.batches if entry is not None and entry.producer_epoch == producer_epoch else ()
        )
        self._producers[producer_id] = ProducerStateEntry(
            producer_id, producer_epoch, timestamp, batches, -1, marker.coordinator_epoch
        )
        self._map_end_offset = offset + 1
        return completed

    def update_batch(
        self, header: BatchHeader, data: Buffer | None = None, pos: int = 0
    ) -> CompletedTxn | None:
        """`update` (or `update_marker`) from a header that carries its log offsets
        (follower append, replay). `data[pos:]` holds the batch, needed for a
        control batch, whose marker it reads; batches without a producer id, and
        control batches that are not markers (or given without their data), are
        ignored. Returns the transaction a marker ended."""
        if header.producer_id < 0:
            return None
        if header.is_control:
            if data is None:
                return None
            try:
                marker = read_end_txn_marker(data, pos)
            except InvalidBatchError as e:
                logger.warning("%s: unreadable control batch at %d: %s", self.dir,
                               header.base_offset, e)
                return None
            if marker is None:
                return None
            return self.update_marker(
                header.producer_id, header.producer_epoch, marker, header.base_offset,
                header.max_timestamp,
            )
        self.update(
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.last_offset_delta,
            header.base_offset,
            header.max_timestamp,
            header.is_transactional,
        )
        return None

    def remove_expired(self, now_ms: int) -> int:
        """Forget producers idle for producer.id.expiration.ms; return how many."""
        limit = now_ms - self.producer_id_expiration_ms
        expired = [
            pid
            for pid, e in self._producers.items()
            if e.last_timestamp <= limit and e.current_txn_first_offset < 0
        ]
        for producer_id in expired:
            del self._producers[producer_id]
        return len(expired)

    # -- snapshots ----------------------------------------------------------------

    def snapshot_offsets(self) -> list[int]:
        """Offsets of the snapshot files in the directory, ascending (after every
        snapshot handed to the background writer is written)."""
        _WRITER.drain()
        return _list_snapshots(self.dir)

    def take_snapshot(self, offset: int, *, durable: bool = True,
                      in_background: bool = False) -> Path:
        """Write the state as of `offset` (>= map_end_offset: every batch with a
        producer id below it has been recorded) and keep only the latest 2 files.
        `durable=False` (at a segment roll, on the event loop) skips the fsyncs, as
        Kafka does since KAFKA-9693: the log it describes is not fsynced either, and
        a lost or torn snapshot fails its CRC and is rebuilt from the log.
        `in_background` (with durable=False) hands the file work to one worker
        thread shared by all partitions, which writes in submission order: on a
        busy disk creating, renaming and unlinking files blocks for seconds, and
        the event loop carries the quorum's heartbeats. Everything that reads or
        deletes snapshot files first waits for that thread (`snapshot_offsets`,
        `load`), so it never sees a directory older than the state here."""
        if offset < self._map_end_offset:
            raise ValueError(
                f"snapshot at {offset} is below the recorded end {self._map_end_offset}"
            )
        if in_background and durable:
            raise ValueError("a background snapshot is never durable")
        self._map_end_offset = offset
        snapshot = _Snapshot(
            SNAPSHOT_VERSION,
            offset,
            sorted(self._producers.values(), key=lambda e: e.producer_id),
        )
        body = _encoder.encode(snapshot)
        path = self.dir / snapshot_file_name(offset)
        data = _CRC.pack(crc32c.crc32c(body)) + body
        if in_background:
            _WRITER.submit(path, data)
        else:
            _WRITER.drain()
            _write_snapshot(path, data, durable=durable)
        return path

    def _delete_snapshot(self, offset: int) -> None:
        (self.dir / snapshot_file_name(offset)).unlink(missing_ok=True)

    def _read_snapshot(self, offset: int) -> list[ProducerStateEntry]:
        """The entries of snapshot `offset`; raises CorruptSnapshotError."""
        path = self.dir / snapshot_file_name(offset)
        raw = path.read_bytes()
        if len(raw) < _CRC.size:
            raise CorruptSnapshotError(f"{path}: {len(raw)} bytes, shorter than its CRC")
        (stored,) = _CRC.unpack_from(raw)
        body = memoryview(raw)[_CRC.size :]
        computed = crc32c.crc32c(body)
        if stored != computed:
            raise CorruptSnapshotError(f"{path}: stored crc {stored} != computed {computed}")
        try:
            snapshot = _decoder.decode(body)
        except msgspec.DecodeError as e:
            raise CorruptSnapshotError(f"{path}: {e}") from e
        if snapshot.version != SNAPSHOT_VERSION or snapshot.offset != offset:
            raise CorruptSnapshotError(
                f"{path}: version {snapshot.version}, offset {snapshot.offset}; "
                f"expected version {SNAPSHOT_VERSION}, offset {offset}"
            )
        seen = set()
        for entry in snapshot.producers:
            if len(entry.batches) > NUM_BATCHES_TO_RETAIN or entry.producer_id in seen:
                raise CorruptSnapshotError(f"{path}: bad entry for producer {entry.producer_id}")
            seen.add(entry.producer_id)
        return snapshot.producers

    # -- loading and truncation ------------------------------------------------------

    def load(self, partition_log: PartitionLog) -> None:
        """Replace the state by that of `partition_log`: the latest valid snapshot at
        or below its log end offset, then its batches from there (see module doc)."""
        self._producers = {}
        self._map_end_offset = 0
        self._ongoing = {}
        self._verifications = {}
        self._unreplicated = {}
        self._remove_stale_tmp_files()
        log_end = partition_log.log_end_offset
        start = partition_log.log_start_offset
        # Prefer a snapshot at or below the recovery point: replaying every unflushed
        # batch puts back the txnindex entries lost with unflushed data.
        offsets = self.snapshot_offsets()
        limit = min(partition_log.recovery_point, log_end)
        flushed = [o for o in offsets if o <= limit]
        if flushed:
            offsets = [o for o in offsets if o <= flushed[-1] or o > log_end]
        deleted = False
        for offset in reversed(offsets):
            if offset > log_end:
                logger.info("%s: deleting producer snapshot %d above the log end", self.dir, offset)
                self._delete_snapshot(offset)
                deleted = True
                continue
            try:
                entries = self._read_snapshot(offset)
            except CorruptSnapshotError as e:
                logger.warning("ignoring and deleting corrupt producer snapshot: %s", e)
                self._delete_snapshot(offset)
                deleted = True
                continue
            self._producers = {e.producer_id: e for e in entries}
            self._ongoing = dict(sorted(
                (e.current_txn_first_offset, e.producer_id)
                for e in entries if e.current_txn_first_offset >= 0
            ))
            self._map_end_offset = offset
            start = max(offset, start)
            break
        if deleted:
            # A snapshot of truncated data must not come back after a crash and be
            # trusted once the log has grown past it again.
            fsync_dir(self.dir)
        self._replay(partition_log, start, log_end)
        self._map_end_offset = max(self._map_end_offset, log_end)
        self.on_high_watermark_updated(partition_log.high_watermark)

    def _replay(self, partition_log: PartitionLog, start: int, end: int) -> None:
        """Record the header of every batch holding an offset in [start, end)."""
        offset = start
        while offset < end:
            data = partition_log.read(offset, _REPLAY_READ_BYTES).to_bytes()
            next_offset = offset
            for pos, header in iter_batches(data, allow_partial_tail=True):
                if header.last_offset < offset:
                    continue  # wholly below the snapshot / log start
                completed = self.update_batch(header, data, pos)
                if completed is not None and completed.aborted:
                    partition_log.append_aborted_txn(completed.aborted_txn())
                next_offset = header.next_offset
            if next_offset == offset:
                raise RuntimeError(f"{self.dir}: no whole batch readable at offset {offset}")
            offset = next_offset

    def _remove_stale_tmp_files(self) -> None:
        _WRITER.drain()
        for name in os.listdir(self.dir):
            if name.endswith(SNAPSHOT_SUFFIX + TMP_SUFFIX):
                os.unlink(self.dir / name)

    def truncate_to(self, offset: int, partition_log: PartitionLog) -> None:
        """After `partition_log` was truncated to `offset` (follower truncation; its
        log end offset is now <= `offset`): delete the snapshots above its log end
        offset (durably) and rebuild the state from the log."""
        if partition_log.log_end_offset > offset:
            raise ValueError(
                f"truncate the log to {offset} first (log end offset "
                f"{partition_log.log_end_offset})"
            )
        self.load(partition_log)

    def truncate_fully(self) -> None:
        """Forget everything and delete every snapshot (durably), for a log
        restarted empty (`truncate_fully_and_start_at`)."""
        for old in self.snapshot_offsets():
            self._delete_snapshot(old)
        fsync_dir(self.dir)
        self._producers = {}
        self._map_end_offset = 0
        self._ongoing = {}
        self._verifications = {}
        self._unreplicated = {}


def _list_snapshots(directory: Path) -> list[int]:
    offsets = []
    for name in os.listdir(directory):
        match = _SNAPSHOT_NAME.match(name)
        if match:
            offsets.append(int(match.group(1)))
    return sorted(offsets)


def _write_snapshot(path: Path, data: bytes, *, durable: bool) -> None:
    """Write one snapshot file, then delete all but the latest SNAPSHOTS_TO_RETAIN."""
    atomic_write(path, data, durable=durable)
    offsets = _list_snapshots(path.parent)
    for old in offsets[: max(len(offsets) - SNAPSHOTS_TO_RETAIN, 0)]:
        (path.parent / snapshot_file_name(old)).unlink(missing_ok=True)


class _SnapshotWriter:
    """One daemon thread writing background snapshots in submission order.

    A job that fails (the partition directory deleted with its topic, a full
    disk) is logged and dropped: a snapshot only saves replay time. Jobs still
    queued when the process dies are lost, like any unfsynced file.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Path, bytes]] = queue.Queue()
        self._started = False
        self._lock = threading.Lock()

    def submit(self, path: Path, data: bytes) -> None:
        with self._lock:
            if not self._started:
                threading.Thread(target=self._run, name="producer-snapshots",
                                 daemon=True).start()
                self._started = True
        self._queue.put((path, data))

    def drain(self) -> None:
        """Return once every submitted snapshot is written (or failed)."""
        if self._started:
            self._queue.join()

    def _run(self) -> None:
        while True:
            path, data = self._queue.get()
            try:
                _write_snapshot(path, data, durable=False)
            except OSError as e:
                logger.debug("producer snapshot %s not written: %s", path, e)
            finally:
                self._queue.task_done()


_WRITER = _SnapshotWriter()
