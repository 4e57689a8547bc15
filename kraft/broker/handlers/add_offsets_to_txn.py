"""AddOffsetsToTxn (key 25), versions 0-4: a consumer group's offsets join the
producer's transaction (KIP-98, send_offsets_to_transaction).

The group's `__consumer_offsets` partition (partition_for(group id,
offsets.topic.num.partitions)) is added to the transaction like any
partition (kraft.broker.txn.coordinator.add_partitions), so the transaction's
markers reach it; the client then sends TxnOffsetCommit to the group
coordinator. Errors as for AddPartitionsToTxn.

Not done: the GROUP READ and TRANSACTIONAL_ID WRITE authorizations.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import acl_checks
from kraft.broker.context import BrokerContext
from kraft.broker.internal_topics import GROUP_METADATA_TOPIC, partition_for
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import RequestContext


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    denied = acl_checks.transaction(broker.access, ctx, request.transactional_id,
                                    request.group_id)
    if denied is not None:
        error = denied
    elif not request.group_id:
        error = ErrorCode.invalid_group_id
    else:
        partition = partition_for(request.group_id, broker.config.offsets_topic_num_partitions)
        error = await broker.txn_coordinator.add_partitions(
            request.transactional_id, request.producer_id, request.producer_epoch,
            [(GROUP_METADATA_TOPIC, partition)])
    return build(response_class(header), throttle_time=timedelta(0), error_code=error)
