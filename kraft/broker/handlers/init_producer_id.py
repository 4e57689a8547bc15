"""InitProducerId (key 22), versions 0-5: producer ids for idempotent producers.

A request without a transactional id gets a fresh producer id with epoch 0,
whatever producer id and epoch it carries (v3+): for non-transactional
producers Kafka's coordinator always hands out a new id, and the KIP-360
"bump the epoch" path only exists for transactional ids. Ids come from the
blocks the active controller allocates (AllocateProducerIds, 1000 at a
time; kraft.broker.producer_ids); if no block arrives within
ALLOCATION_TIMEOUT_S the answer is COORDINATOR_NOT_AVAILABLE, which clients
retry.

Not done: transactions. A transactional id is answered
TRANSACTIONAL_ID_AUTHORIZATION_FAILED (fatal for the client, with no retry
loop) because there is no transaction coordinator; clients normally stop
earlier, at FindCoordinator.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import ApiSpec, RequestContext

API = ApiSpec(ApiKey.INIT_PRODUCER_ID, 0, 5)
ALLOCATION_TIMEOUT_S = 5.0


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    if request.transactional_id is not None:
        return build(cls, throttle_time=timedelta(0),
                     error_code=ErrorCode.transactional_id_authorization_failed,
                     producer_id=-1, producer_epoch=-1)
    producer_id = None
    with trio.move_on_after(ALLOCATION_TIMEOUT_S):
        producer_id = await broker.producer_ids.generate()
    if producer_id is None:
        return build(cls, throttle_time=timedelta(0),
                     error_code=ErrorCode.coordinator_not_available,
                     producer_id=-1, producer_epoch=-1)
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 producer_id=producer_id, producer_epoch=0)
