"""DescribeProducers (key 61), version 0: the idempotent producers a partition
leader knows (`kafka-transactions.sh describe-producers`, AdminClient
describe_producers).

Per partition, as Kafka's ReplicaManager.activeProducerState: unknown topic or
partition is UNKNOWN_TOPIC_OR_PARTITION, a partition not led here
NOT_LEADER_OR_FOLLOWER; else one entry per producer id in the partition's
producer state (kraft.broker.producer_state): its epoch, last sequence and
last timestamp, the coordinator epoch of its last transaction marker and the
first offset of its ongoing transaction (-1 for none, as Kafka reports;
`kafka-transactions.sh find-hanging` reads it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    topic_cls = nested(cls, "TopicResponse")
    partition_cls = nested(cls, "PartitionResponse")
    state_cls = nested(cls, "ProducerState")
    image = broker.image
    topics = []
    readable = broker.access.checker(ctx, AclOperation.READ)
    for t in request.topics:
        topic = image.topics.by_name.get(t.name)
        partitions = []
        for index in t.partition_indexes:
            producers: tuple[Any, ...] = ()
            message = None
            if not readable(t.name):
                error = ErrorCode.topic_authorization_failed
            elif topic is None or index not in topic.partitions:
                error = ErrorCode.unknown_topic_or_partition
                if topic is None:  # Kafka names the error for an unknown topic only
                    message = "This server does not host this topic-partition."
            elif ((partition := broker.replica_manager.get_by_id(topic.topic_id, index)) is None
                  or not partition.is_leader):
                error = ErrorCode.not_leader_or_follower
            else:
                error = ErrorCode.none
                producers = tuple(
                    build(state_cls, producer_id=e.producer_id, producer_epoch=e.producer_epoch,
                          last_sequence=e.last_sequence, last_timestamp=e.last_timestamp,
                          coordinator_epoch=e.coordinator_epoch,
                          current_txn_start_offset=e.current_txn_first_offset)
                    for _, e in sorted(partition.producer_state.producers.items()))
            partitions.append(build(partition_cls, partition_index=index, error_code=error,
                                    error_message=message, active_producers=producers))
        topics.append(build(topic_cls, name=t.name, partitions=tuple(partitions)))
    return build(cls, throttle_time=timedelta(0), topics=tuple(topics))
