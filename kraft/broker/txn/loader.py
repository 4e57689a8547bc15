"""Rebuilding the transactional ids of one `__transaction_state` partition.

Every record from the log start offset to the log end offset is replayed in
order: the last value of each transactional id wins, a tombstone (null
value) forgets it -- what compaction leaves behind anyway. As for
`__consumer_offsets` (kraft.broker.group.loader) the leader reads up to its
log end offset. Reads are chunked, file reads in a worker thread; malformed
records are logged and skipped.
"""

from __future__ import annotations

import logging

import trio

from kraft.broker.txn.metadata import TransactionMetadata
from kraft.broker.txn.records import TxnRecordError, decode_key, decode_value
from kraft.log.batch import iter_batches
from kraft.log.log import PartitionLog
from kraft.log.records import iter_records

log = logging.getLogger("kraft.broker.txn")

LOAD_CHUNK_BYTES = 4 << 20


async def load_transactions(partition_log: PartitionLog) -> dict[str, TransactionMetadata]:
    """The transactional ids of `partition_log` (call on its owner; nothing may append
    to it meanwhile)."""
    found: dict[str, TransactionMetadata] = {}
    offset = partition_log.log_start_offset
    end = partition_log.log_end_offset
    while offset < end:
        info = partition_log.read(offset, LOAD_CHUNK_BYTES, end, min_one_message=True)
        data = memoryview(await trio.to_thread.run_sync(info.to_bytes))
        next_offset = offset
        for pos, header in iter_batches(data, allow_partial_tail=True):
            next_offset = header.next_offset
            if header.is_control or header.compression:
                continue
            for record in iter_records(data, pos):
                try:
                    if record.key is None:
                        raise TxnRecordError("record without a key")
                    txn_id = decode_key(record.key)
                    if record.value is None:
                        found.pop(txn_id, None)
                    else:
                        found[txn_id] = TransactionMetadata.from_value(
                            txn_id, decode_value(record.value))
                except (TxnRecordError, ValueError) as e:
                    log.error("skipping malformed __transaction_state record at offset %d: %s",
                              record.offset, e)
        if next_offset <= offset:
            break
        offset = next_offset
        await trio.sleep(0)
    return found
