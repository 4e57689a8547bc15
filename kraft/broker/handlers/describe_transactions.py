"""DescribeTransactions (key 65), version 0: the state of transactional ids this
broker coordinates (KIP-664; `kafka-transactions.sh describe`).

Per id, from the transaction coordinator (kraft.broker.txn): NOT_COORDINATOR /
COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE as for the other
transaction APIs, TRANSACTIONAL_ID_NOT_FOUND for an id it does not know;
else Kafka's state name (Empty, Ongoing, PrepareCommit, PrepareAbort,
CompleteCommit, CompleteAbort), the timeout, the start time of the ongoing
transaction (-1 if none), the producer id and epoch and the partitions.

Not done: the TRANSACTIONAL_ID DESCRIBE authorization.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType

NO_TIME = datetime.fromtimestamp(-0.001, UTC)  # encodes as -1 (the field is not nullable)


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    state_cls = nested(cls, "TransactionState")
    topic_cls = nested(cls, "TopicData")
    states = []
    describable = broker.access.checker(ctx, AclOperation.DESCRIBE)  # topics
    for txn_id in request.transactional_ids:
        if broker.access.allowed(ctx, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID,
                                 txn_id):
            error, meta = broker.txn_coordinator.describe(txn_id)
        else:
            error, meta = ErrorCode.transactional_id_authorization_failed, None
        if meta is None:
            states.append(build(state_cls, error_code=error, transactional_id=txn_id,
                                transaction_state="", transaction_timeout=timedelta(0),
                                transaction_start_time=NO_TIME, producer_id=-1,
                                producer_epoch=-1, topics=()))
            continue
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(meta.partitions):
            if not describable(topic):  # left out, as Kafka
                continue
            by_topic.setdefault(topic, []).append(partition)
        states.append(build(
            state_cls, error_code=ErrorCode.none, transactional_id=txn_id,
            transaction_state=meta.state.kafka_name,
            transaction_timeout=timedelta(milliseconds=meta.timeout_ms),
            transaction_start_time=(datetime.fromtimestamp(meta.start_ms / 1000, UTC)
                                    if meta.start_ms >= 0 else NO_TIME),
            producer_id=meta.producer_id, producer_epoch=meta.producer_epoch,
            topics=tuple(build(topic_cls, topic=t, partitions=tuple(ps))
                         for t, ps in by_topic.items())))
    return build(cls, throttle_time=timedelta(0), transaction_states=tuple(states))
