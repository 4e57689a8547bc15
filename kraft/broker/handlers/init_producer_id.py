"""InitProducerId (key 22), versions 0-5: producer ids for idempotent producers.

A request without a transactional id gets a fresh producer id with epoch 0,
whatever producer id and epoch it carries (v3+): for non-transactional
producers Kafka's coordinator always hands out a new id, and the KIP-360
"bump the epoch" path only exists for transactional ids. Ids come from the
blocks the active controller allocates (AllocateProducerIds, 1000 at a
time; kraft.broker.producer_ids); if no block arrives within
ALLOCATION_TIMEOUT_S the answer is COORDINATOR_NOT_AVAILABLE, which clients
retry.

With a transactional id the transaction coordinator answers
(kraft.broker.txn.coordinator.init_producer_id): the id's producer id with
its epoch bumped (a new id the first time, or when the epoch is exhausted),
after fencing the previous incarnation and aborting its open transaction
(CONCURRENT_TRANSACTIONS until that is done, which clients retry);
INVALID_TRANSACTION_TIMEOUT above transaction.max.timeout.ms; KIP-360's
producer id and epoch (v3+) must name the current producer, else
PRODUCER_FENCED.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker import acl_checks
from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import RequestContext

ALLOCATION_TIMEOUT_S = 5.0


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    denied = acl_checks.init_producer_id(broker.access, ctx, request.transactional_id)
    if denied is not None:
        return build(cls, throttle_time=timedelta(0), error_code=denied, producer_id=-1,
                     producer_epoch=-1)
    if request.transactional_id is not None:
        timeout_ms = int(request.transaction_timeout.total_seconds() * 1000)
        error, producer_id, epoch = await broker.txn_coordinator.init_producer_id(
            request.transactional_id, timeout_ms, getattr(request, "producer_id", -1),
            getattr(request, "producer_epoch", -1))
        return build(cls, throttle_time=timedelta(0), error_code=error,
                     producer_id=producer_id, producer_epoch=epoch)
    allocated: int | None = None
    with trio.move_on_after(ALLOCATION_TIMEOUT_S):
        allocated = await broker.producer_ids.generate()
    if allocated is None:
        return build(cls, throttle_time=timedelta(0),
                     error_code=ErrorCode.coordinator_not_available,
                     producer_id=-1, producer_epoch=-1)
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 producer_id=allocated, producer_epoch=0)
