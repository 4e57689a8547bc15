"""Metadata (key 3), versions 0-13.

Answers from the broker's current image:
- brokers: every unfenced registered broker, with its endpoint for the
  listener the request arrived on (as Kafka's MetadataCache
  getAliveBrokerNodes); `controller_id` is a live broker (KRaft brokers
  forward admin requests, so clients may send them to any broker: Kafka
  reports a random alive broker, we report the lowest id for stable output);
- topics: all (a null list, or an empty one before v1) or those asked for,
  by name or (v10+) by id; per partition the leader (LEADER_NOT_AVAILABLE
  when it has none), leader epoch (v7+), replicas, ISR and offline replicas
  (replicas on brokers that are fenced or gone); topic ids from v10.
- unknown topics: created through the active controller when
  auto.create.topics.enable is true and the request allows it (v4+;
  always before v4), with the broker defaults; the answer then waits (up
  to AUTO_CREATE_WAIT_S) for the topic to reach this broker's image, and
  is LEADER_NOT_AVAILABLE if it has not (clients retry), as Kafka answers
  every auto-created topic. Invalid names get INVALID_TOPIC_EXCEPTION,
  unknown ids UNKNOWN_TOPIC_ID, and the rest UNKNOWN_TOPIC_OR_PARTITION.

ACLs (Kafka's handleTopicMetadataRequest): topics need DESCRIBE. Of all
topics, those denied are left out; a topic asked for by name and denied is
TOPIC_AUTHORIZATION_FAILED whether or not it exists (by id: with the id and
no name); a missing topic is auto-created only with CREATE on the cluster or
on the topic, else TOPIC_AUTHORIZATION_FAILED. Authorized operations, when
asked for (v8+), are those the principal's ACLs allow (every operation the
resource supports without an authorizer); the cluster's is 0 without
DESCRIBE on the cluster. Racks are passed through as registered.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import authorized_operations as ops
from kraft.broker import topic_creation
from kraft.broker.context import BrokerContext
from kraft.broker.internal_topics import INTERNAL_TOPICS
from kraft.metadata.image import MetadataImage, PartitionRegistration, TopicImage
from kraft.metadata.records import NO_LEADER
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType

AUTO_CREATE_WAIT_S = 2.0


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    version = header.api_version
    cls = response_class(header)
    image = broker.image
    requested = request.topics
    if version < 12 and requested and any(item.name is None for item in requested):
        return _by_id_before_v12(cls, requested)
    all_topics = requested is None or (version == 0 and not requested)
    describable = broker.access.checker(ctx, AclOperation.DESCRIBE)
    results: list[Any] = []
    denied: list[Any] = []  # TOPIC_AUTHORIZATION_FAILED answers: no authorized operations
    if all_topics:
        names = sorted(n for n in image.topics.by_name if describable(n))
        results = [_topic(cls, image, image.topics.by_name[n]) for n in names]
    else:
        allow_create = (
            broker.config.auto_create_topics_enable
            and (version < 4 or request.allow_auto_topic_creation)
        )
        creatable: Callable[[str], bool] | None = None
        missing: list[str] = []
        for item in requested:
            topic_id = getattr(item, "topic_id", None)
            if item.name is None and topic_id is not None and topic_id != uuid.UUID(int=0):
                topic = image.topics.by_id.get(topic_id)
                if topic is None:
                    results.append(_error_topic(cls, None, ErrorCode.unknown_topic_id, topic_id))
                elif not describable(topic.name):  # ids are not secret, names are
                    denied.append(_error_topic(cls, None, ErrorCode.topic_authorization_failed,
                                               topic_id))
                else:
                    results.append(_topic(cls, image, topic))
                continue
            name = item.name or ""
            if not describable(name):  # decided before whether it exists, as Kafka
                denied.append(_error_topic(cls, name, ErrorCode.topic_authorization_failed))
                continue
            topic = image.topics.by_name.get(name)
            if topic is not None:
                results.append(_topic(cls, image, topic))
            elif topic_creation.invalid_name(name) is not None:
                results.append(_error_topic(cls, name, ErrorCode.invalid_topic_exception))
            elif allow_create:
                if creatable is None:
                    creatable = (_everything if broker.access.cluster(ctx, AclOperation.CREATE)
                                 else broker.access.checker(ctx, AclOperation.CREATE))
                if creatable(name):
                    results.append(name)  # placeholder, answered after creation below
                    missing.append(name)
                else:
                    denied.append(_error_topic(cls, name, ErrorCode.topic_authorization_failed))
            else:
                results.append(_error_topic(cls, name, ErrorCode.unknown_topic_or_partition))
        if missing:
            errors = await topic_creation.auto_create(broker.channel, broker.metadata, missing,
                                                   AUTO_CREATE_WAIT_S)
            image = broker.image
            for i, item in enumerate(results):
                if isinstance(item, str):
                    topic = image.topics.by_name.get(item)
                    if topic is not None and errors.get(item) == ErrorCode.none:
                        results[i] = _topic(cls, image, topic)
                    else:
                        code = errors.get(item, ErrorCode.leader_not_available)
                        if code in (ErrorCode.none, ErrorCode.topic_already_exists):
                            code = ErrorCode.leader_not_available
                        results[i] = _error_topic(cls, item, code)
    if getattr(request, "include_topic_authorized_operations", False):
        results = [dataclasses.replace(t, topic_authorized_operations=broker.access.operations(
            ctx, ResourceType.TOPIC, t.name or "")) for t in results]
    results += denied
    cluster_ops = ops.cluster(broker.access, ctx,
                              getattr(request, "include_cluster_authorized_operations", False))
    alive = _alive_brokers(image, ctx.listener)
    return build(
        cls,
        throttle_time=timedelta(0),
        brokers=tuple(
            build(nested(cls, "MetadataResponseBroker"), node_id=b, host=h, port=p, rack=r)
            for b, h, p, r in alive
        ),
        cluster_id=broker.cluster_id,
        controller_id=_controller_id(broker.node_id, alive),
        topics=tuple(results),
        # v8-10 only (build drops it elsewhere), as Kafka.
        cluster_authorized_operations=cluster_ops,
        error_code=ErrorCode.none,
    )


def _everything(name: str) -> bool:
    return True


def _by_id_before_v12(cls: type, requested: Any) -> Any:
    """Kafka's answer to topics named by id alone before v12 (names are not
    nullable there): the whole request is invalid, each topic INVALID_REQUEST
    with an empty name, no brokers, no cluster id, no controller."""
    return build(
        cls, throttle_time=timedelta(0), brokers=(), cluster_id=None, controller_id=-1,
        topics=tuple(build(
            nested(cls, "MetadataResponseTopic"), error_code=ErrorCode.invalid_request,
            name=item.name or "", topic_id=getattr(item, "topic_id", None) or uuid.UUID(int=0),
            is_internal=False, partitions=(), topic_authorized_operations=ops.NOT_REQUESTED)
            for item in requested),
        cluster_authorized_operations=ops.NOT_REQUESTED, error_code=ErrorCode.none)


def _alive_brokers(image: MetadataImage, listener: str) -> list[tuple[int, str, int, str | None]]:
    alive = []
    for broker_id in sorted(image.cluster.brokers):
        registration = image.cluster.brokers[broker_id]
        endpoint = registration.endpoint(listener)
        if not registration.fenced and endpoint is not None:
            alive.append((broker_id, endpoint.host, endpoint.port, registration.rack))
    return alive


def _controller_id(own_id: int, alive: list[tuple[int, str, int, str | None]]) -> int:
    ids = [b for b, *_ in alive]
    if own_id in ids:
        return own_id
    return ids[0] if ids else -1


def partition_fields(image: MetadataImage, index: int, p: PartitionRegistration) -> dict[str, Any]:
    """One partition's answer, as Metadata and DescribeTopicPartitions give it: the
    leader (LEADER_NOT_AVAILABLE without one), its epoch, replicas, ISR and the
    replicas on brokers that are fenced or gone."""
    brokers = image.cluster.brokers
    return {
        "error_code": (
            ErrorCode.leader_not_available if p.leader == NO_LEADER else ErrorCode.none
        ),
        "partition_index": index,
        "leader_id": p.leader,
        "leader_epoch": p.leader_epoch,
        "replica_nodes": p.replicas,
        "isr_nodes": p.isr,
        "offline_replicas": tuple(r for r in p.replicas if r not in brokers or brokers[r].fenced),
    }


def _topic(cls: type, image: MetadataImage, topic: TopicImage) -> Any:
    partition_cls = nested(cls, "MetadataResponsePartition")
    partitions = [build(partition_cls, **partition_fields(image, index, topic.partitions[index]))
                  for index in sorted(topic.partitions)]
    return build(
        nested(cls, "MetadataResponseTopic"),
        error_code=ErrorCode.none,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=topic.name in INTERNAL_TOPICS,
        partitions=tuple(partitions),
        topic_authorized_operations=ops.NOT_REQUESTED,
    )


def _error_topic(
    cls: type, name: str | None, code: ErrorCode, topic_id: uuid.UUID | None = None
) -> Any:
    return build(
        nested(cls, "MetadataResponseTopic"),
        error_code=code,
        name=name,
        topic_id=topic_id or uuid.UUID(int=0),
        is_internal=False,
        partitions=(),
        topic_authorized_operations=ops.NOT_REQUESTED,
    )
