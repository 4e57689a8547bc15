"""What the log cleaner knows about transactions while it walks a log (log.cleaner).

Kafka's `CleanedTransactionMetadata`. The cleaner feeds it every batch of the
range it reads, in offset order, together with the aborted transactions that
overlap that range (the `.txnindex` entries, log.txnindex). It answers:

* `on_batch` (a data batch): True when the batch belongs to an aborted
  transaction -- its records are never mapped and are all removed. A
  transactional batch of a producer with no aborted transaction open at
  that offset belongs to a committed one (the cleanable range ends at the
  last stable offset, so no transaction in it is still open).
* `on_control` (a control batch): True when the batch may be discarded
  once its delete horizon passes (KIP-534; the cleaner sets the horizon the
  first time it sees this): an abort or commit marker none of whose
  transaction's batches were seen since the previous marker of that producer
  -- its data is gone -- or an empty control batch. A marker whose
  transaction still has batches is kept, and an abort marker kept that way
  puts its index entry in `retained_entries`, the `.txnindex` of the
  segment the cleaner is writing; entries of aborted transactions without
  data are dropped, as Kafka does. Other control types are never discarded.

One instance per walk (the map build uses its own); single thread.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from kraft.log.batch import BatchHeader, Buffer
from kraft.log.control import ControlType, read_end_txn_marker
from kraft.log.errors import InvalidBatchError
from kraft.log.txnindex import AbortedTxn

__all__ = ["CleanedTransactionMetadata"]


class _OngoingAbort:
    """An aborted transaction the walk is inside of, and whether a batch of it was seen."""

    __slots__ = ("entry", "seen")

    def __init__(self, entry: AbortedTxn) -> None:
        self.entry = entry
        self.seen = False


class CleanedTransactionMetadata:
    """Transaction state of one walk over a log (module doc)."""

    def __init__(self, aborted: Iterable[AbortedTxn] = ()) -> None:
        # min-heap by first offset; entries enter `_ongoing_aborted` as the walk reaches them
        self._pending = [(e.first_offset, e.last_offset, e) for e in aborted]
        heapq.heapify(self._pending)
        self._ongoing_aborted: dict[int, _OngoingAbort] = {}
        self._ongoing_committed: set[int] = set()
        self.retained_entries: list[AbortedTxn] = []

    def _reach(self, offset: int) -> None:
        """Open the aborted transactions that begin at or before `offset`."""
        pending = self._pending
        while pending and pending[0][0] <= offset:
            entry = heapq.heappop(pending)[2]
            self._ongoing_aborted.setdefault(entry.producer_id, _OngoingAbort(entry))

    def on_batch(self, header: BatchHeader) -> bool:
        """A data batch was read; True when it belongs to an aborted transaction."""
        self._reach(header.last_offset)
        if not header.is_transactional:
            return False
        ongoing = self._ongoing_aborted.get(header.producer_id)
        if ongoing is not None:
            ongoing.seen = True
            return True
        self._ongoing_committed.add(header.producer_id)
        return False

    def on_control(self, header: BatchHeader, batch: Buffer) -> bool:
        """A control batch (whole, in `batch`) was read; True when it may be discarded
        once its delete horizon has passed."""
        self._reach(header.last_offset)
        if header.records_count == 0:
            return True  # cleaned before: nothing left to keep
        try:
            marker = read_end_txn_marker(batch)
        except InvalidBatchError:
            return False  # not ours to judge: keep it
        if marker is None:
            return False
        producer_id = header.producer_id
        had_data = producer_id in self._ongoing_committed
        self._ongoing_committed.discard(producer_id)
        if marker.control_type is ControlType.ABORT:
            ongoing = self._ongoing_aborted.pop(producer_id, None)
            if ongoing is not None and ongoing.seen:
                self.retained_entries.append(ongoing.entry)
                return False
            # Without an index entry its data looked committed: keep the marker
            # while that data is there (Kafka would let it expire).
            return not had_data
        return not had_data
