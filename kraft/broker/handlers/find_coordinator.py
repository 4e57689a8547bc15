"""FindCoordinator (key 10), versions 0-6: which broker coordinates a group.

A group's coordinator is the leader of its `__consumer_offsets` partition
(kraft.broker.internal_topics.partition_for). If the topic does not exist
yet it is created through the controller, as Kafka does on the first
FindCoordinator, and the answer is COORDINATOR_NOT_AVAILABLE (retriable)
until the partition has a leader; the broker waits up to CREATE_WAIT_S for
that so the first lookup usually succeeds. v4+ look up several keys at once
(KIP-699); a key not answered for any other reason gets the same per-key
error codes.

A transactional id (key type 1) is coordinated the same way by the leader of
its `__transaction_state` partition, created on first use with the
transaction.state.log.* settings. Not done: share groups (key type 2) have no
coordinator here: answered INVALID_REQUEST, fatal for the client, rather
than a retriable code that would make it wait forever.

The answer only names the leader; whether that broker has loaded the
group's partition yet is for the group APIs to say
(COORDINATOR_LOAD_IN_PROGRESS, kraft.broker.group).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import internal_topics
from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1
CREATE_WAIT_S = 5.0

Answer = tuple[ErrorCode, str | None, int, str, int]  # error, message, node, host, port


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    version = header.api_version
    key_type = getattr(request, "key_type", GROUP_KEY_TYPE)
    keys = list(request.coordinator_keys) if version >= 4 else [request.key]
    answers = [await _find(broker, ctx, key_type, key) for key in keys]
    if version >= 4:
        item = nested(cls, "Coordinator")
        return build(cls, throttle_time=timedelta(0), coordinators=tuple(
            build(item, key=key, node_id=node, host=host, port=port, error_code=error,
                  error_message=message)
            for key, (error, message, node, host, port) in zip(keys, answers, strict=True)
        ))
    error, message, node, host, port = answers[0]
    if error == ErrorCode.none and version >= 1:
        message = "NONE"  # Kafka's v1-3 answer: Errors.NONE.message()
    return build(cls, throttle_time=timedelta(0), error_code=error, error_message=message,
                 node_id=node, host=host, port=port)


async def _find(broker: BrokerContext, ctx: RequestContext, key_type: int, key: str) -> Answer:
    if key_type == TRANSACTION_KEY_TYPE:
        topic_name = internal_topics.TRANSACTION_STATE_TOPIC
        create = internal_topics.create_transaction_state_topic
    elif key_type == GROUP_KEY_TYPE:
        topic_name = internal_topics.GROUP_METADATA_TOPIC
        create = internal_topics.create_offsets_topic
    else:
        return _error(ErrorCode.invalid_request,
                      f"coordinator key type {key_type} is not supported")
    if key_type == TRANSACTION_KEY_TYPE and not key:
        return _error(ErrorCode.invalid_request, "an empty transactional id")
    if key_type == TRANSACTION_KEY_TYPE:
        if not broker.access.allowed(ctx, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID,
                                     key):
            return _error(ErrorCode.transactional_id_authorization_failed,
                          "Transactional Id authorization failed.")
    elif not broker.access.allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, key):
        return _error(ErrorCode.group_authorization_failed, "Group authorization failed.")
    if topic_name not in broker.image.topics.by_name:
        code = await create(broker.channel, broker.image, broker.config, CREATE_WAIT_S)
        if code not in (ErrorCode.none, ErrorCode.topic_already_exists):
            return _error(ErrorCode.coordinator_not_available,
                          f"{topic_name} could not be created: {code.name}")
        await broker.wait_for_image(lambda image: image.topics.have_leaders([topic_name]),
                                    CREATE_WAIT_S)
    topic = broker.image.topics.by_name.get(topic_name)
    if topic is None:
        return _error(ErrorCode.coordinator_not_available, f"{topic_name} is being created")
    partition = topic.partitions.get(internal_topics.partition_for(key, len(topic.partitions)))
    leader = None if partition is None else broker.image.cluster.brokers.get(partition.leader)
    if leader is None or leader.fenced:
        return _error(ErrorCode.coordinator_not_available, "the coordinator has no leader")
    endpoint = leader.endpoint(ctx.listener)
    if endpoint is not None:
        return ErrorCode.none, "", leader.broker_id, endpoint.host, endpoint.port
    return _error(ErrorCode.coordinator_not_available,
                  f"the coordinator has no {ctx.listener} listener")


def _error(code: ErrorCode, message: str) -> Answer:
    return code, message, -1, "", -1
