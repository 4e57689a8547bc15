"""ListTransactions (key 66), versions 0-1: the transactional ids this broker
coordinates (KIP-664; `kafka-transactions.sh list`).

Filters, as Kafka's: state names (unknown names are echoed in
unknown_state_filters and match nothing), producer ids, and (v1, KIP-994)
a duration: only transactions running for longer than it. An empty filter
matches everything. COORDINATOR_LOAD_IN_PROGRESS while a
`__transaction_state` partition led here is still loading.

Not done: the TRANSACTIONAL_ID DESCRIBE authorization (Kafka lists only the
ids the caller may describe).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.txn.metadata import TxnState
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType

_STATES = {s.kafka_name: s for s in TxnState}


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    state_cls = nested(cls, "TransactionState")
    coordinator = broker.txn_coordinator
    unknown = tuple(s for s in request.state_filters if s not in _STATES)
    wanted_states = {_STATES[s] for s in request.state_filters if s in _STATES}
    wanted_pids = set(request.producer_id_filters)
    duration = getattr(request, "duration_filter", -1)
    if any(s.writer.loading for s in coordinator.shards.values()):
        return build(cls, throttle_time=timedelta(0),
                     error_code=ErrorCode.coordinator_load_in_progress,
                     unknown_state_filters=unknown, transaction_states=())
    now = coordinator.clock()
    describable = broker.access.checker(ctx, AclOperation.DESCRIBE,
                                        ResourceType.TRANSACTIONAL_ID)
    found = []
    for shard in coordinator.loaded_shards():
        for meta in shard.transactions.values():
            if request.state_filters and meta.state not in wanted_states:
                continue
            if wanted_pids and meta.producer_id not in wanted_pids:
                continue
            if not describable(meta.transactional_id):
                continue
            if duration >= 0 and (meta.start_ms < 0 or now - meta.start_ms <= duration):
                continue
            found.append(build(state_cls, transactional_id=meta.transactional_id,
                               producer_id=meta.producer_id,
                               transaction_state=meta.state.kafka_name))
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 unknown_state_filters=unknown, transaction_states=tuple(found))
