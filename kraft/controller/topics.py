"""Topic commands of the quorum controller: CreateTopics, DeleteTopics, CreatePartitions.

Versions: CreateTopics (key 19) v2-7, DeleteTopics (key 20) v1-6,
CreatePartitions (key 37) v0-3. Each command is a pure function
`(image, request, version, ctx) -> ControllerResult`: it reads the
controller's speculative image, returns the records to append and the
response to send once they commit, and mutates nothing (it only draws from
`ctx.rng`). Kafka errors are per-topic error codes in the response; a topic
that fails contributes no record. A command's records are all-or-nothing in
the log (one result), as Kafka's `ControllerResult.atomicOf`.

Semantics are Kafka's `ControllerApis` (request-level checks: duplicates,
`__cluster_metadata`, delete.topic.enable) plus `ReplicationControlManager`
(per-topic checks and records), with Kafka's error messages:

- CreateTopics writes, per topic, a TopicRecord, its ConfigRecords, then one
  PartitionRecord per partition with ISR = replicas, leader = first replica,
  epochs 0. `validate_only` answers the same but writes nothing.
- DeleteTopics writes one RemoveTopicRecord per topic (its configs go with it
  on replay).
- CreatePartitions writes a PartitionRecord per new partition, with the
  replication factor of partition 0.

Placement (`place_replicas`) is Kafka's rack-unaware round robin
(AdminUtils.assignReplicasToBrokersRackUnaware): usable brokers sorted by id,
a random start index so leaders are staggered across topics, and a random
shift, bumped every `len(brokers)` partitions, that spreads the followers.
Usable brokers are those neither fenced nor in controlled shutdown; others
never receive replicas from placement, and the replication factor may not
exceed their number. Manual assignments may name any registered broker, as
in Kafka; the ISR is then the usable ones among them.

Deliberate differences from Kafka: rack awareness is not implemented; Kafka's
StripedReplicaPlacer may put followers on fenced brokers and counts them as
"registered" in its message, we count and use only usable brokers; a name
that collides ('.' vs '_') with another topic created by the same request is
rejected too (Kafka only compares with existing topics); DeleteTopics answers
in request order (Kafka shuffles); a requested name that maps to a topic id
also given by id fails both entries (Kafka drops the id's entry).
A request whose records would exceed MAX_RECORDS_PER_USER_OP fails as a
whole with POLICY_VIOLATION, as Kafka's BoundedList does.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft import kafka_uuid
from kraft.broker.internal_topics import INTERNAL_TOPICS
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import ConfigResource, MetadataImage
from kraft.metadata.records import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.topic_configs import describe_topic_configs, validate_topic_configs

__all__ = [
    "CLUSTER_METADATA_TOPIC",
    "CREATE_PARTITIONS_VERSIONS",
    "CREATE_TOPICS_VERSIONS",
    "DELETE_TOPICS_VERSIONS",
    "MAX_RECORDS_PER_USER_OP",
    "create_partitions",
    "create_topics",
    "delete_topics",
    "place_replicas",
    "placement_error",
    "usable_brokers",
    "validate_topic_name",
]

CREATE_TOPICS_VERSIONS: Final = (2, 7)
DELETE_TOPICS_VERSIONS: Final = (1, 6)
CREATE_PARTITIONS_VERSIONS: Final = (0, 3)

CLUSTER_METADATA_TOPIC: Final = "__cluster_metadata"
# Kafka's QuorumController.MAX_RECORDS_PER_USER_OP.
MAX_RECORDS_PER_USER_OP: Final = 10_000
_TOO_LARGE: Final = "Unable to perform excessively large batch operation."
_MAX_NAME_LENGTH: Final = 249
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_ZERO_UUID: Final = uuid.UUID(int=0)
_UNKNOWN_TOPIC: Final = "This server does not host this topic-partition."
_UNKNOWN_TOPIC_ID: Final = "This server does not host this topic ID."
_NO_THROTTLE: Final = timedelta(0)

Error = tuple[ErrorCode, str | None]


class _TooLarge(Exception):
    """The request would write more than MAX_RECORDS_PER_USER_OP records."""


# --- names and placement ---------------------------------------------------------------

def validate_topic_name(name: str) -> str | None:
    """None if `name` is a legal topic name, else Kafka's Topic.validate message."""
    if not name:
        reason = "the empty string is not allowed"
    elif name in (".", ".."):
        reason = f"'{name}' is not allowed"
    elif len(name) > _MAX_NAME_LENGTH:
        reason = f"the length of '{name}' is longer than the max allowed length {_MAX_NAME_LENGTH}"
    elif not _LEGAL_NAME.fullmatch(name):
        reason = (f"'{name}' contains one or more characters other than "
                  "ASCII alphanumerics, '.', '_' and '-'")
    else:
        return None
    return f"Topic name is invalid: {reason}"


def _collision_key(name: str) -> str | None:
    """The key under which names that differ only in '.' vs '_' collide, or None."""
    return name.replace(".", "_") if "." in name or "_" in name else None


def usable_brokers(image: MetadataImage) -> list[int]:
    """Ids of registered brokers that are neither fenced nor in controlled shutdown, sorted."""
    return sorted(b.broker_id for b in image.cluster.brokers.values() if b.active)


def placement_error(image: MetadataImage, replication_factor: int) -> str | None:
    """None if `replication_factor` replicas can be placed, else Kafka's placer message."""
    if replication_factor <= 0:
        return (f"Invalid replication factor {replication_factor}: "
                "the replication factor must be positive.")
    usable = usable_brokers(image)
    if not usable and image.cluster.brokers:
        return "All brokers are currently fenced."
    if replication_factor > len(usable):
        return (f"The target replication factor of {replication_factor} cannot be reached "
                f"because only {len(usable)} broker(s) are registered or some brokers have "
                "all their log directories cordoned.")  # Kafka 4.x's wording (KIP-1066)
    return None


def place_replicas(
    brokers: Sequence[int],
    start_partition: int,
    n_partitions: int,
    replication_factor: int,
    rng: random.Random,
) -> list[tuple[int, ...]]:
    """Replica lists for partitions start_partition .. start_partition + n_partitions - 1.

    Kafka's rack-unaware round robin over `brokers` (sorted ids): partition p's
    leader is brokers[(p + start) % n]; follower j sits 1 + (shift + j) % (n - 1)
    places after it, with `shift` growing by one every n partitions. Requires
    1 <= replication_factor <= len(brokers).
    """
    n = len(brokers)
    if not 1 <= replication_factor <= n:
        raise ValueError(f"cannot place {replication_factor} replicas on {n} brokers")
    start_index = rng.randrange(n)
    shift = rng.randrange(n)
    assignments = []
    for p in range(start_partition, start_partition + n_partitions):
        if p > 0 and p % n == 0:
            shift += 1
        first = (p + start_index) % n
        replicas = [brokers[first]]
        for j in range(replication_factor - 1):
            replicas.append(brokers[(first + 1 + (shift + j) % (n - 1)) % n])
        assignments.append(tuple(replicas))
    return assignments


def _manual_assignment_error(
    image: MetadataImage, replicas: Sequence[int], replication_factor: int | None
) -> str | None:
    """Kafka's validateManualPartitionAssignment: non-empty, registered, distinct, same size."""
    if not replicas:
        return "The manual partition assignment includes an empty replica list."
    previous = None
    for broker_id in sorted(replicas):
        if broker_id not in image.cluster.brokers:
            return (f"The manual partition assignment includes broker {broker_id}, "
                    "but no such broker is registered.")
        if broker_id == previous:
            return (f"The manual partition assignment includes the broker {broker_id} "
                    "more than once.")
        previous = broker_id
    if replication_factor is not None and len(replicas) != replication_factor:
        return (f"The manual partition assignment includes a partition with {len(replicas)} "
                "replica(s), but this is not consistent with previous partitions, which have "
                f"{replication_factor} replica(s).")
    return None


def _active_replicas(image: MetadataImage, replicas: Iterable[int]) -> tuple[int, ...]:
    """The replicas that may be in a new partition's ISR (unfenced, not shutting down)."""
    brokers = image.cluster.brokers
    return tuple(
        r for r in replicas
        if r in brokers and brokers[r].active
    )


def _partition_record(
    topic_id: uuid.UUID, partition_id: int, replicas: tuple[int, ...], isr: tuple[int, ...]
) -> PartitionRecord:
    return PartitionRecord(
        partition_id=partition_id, topic_id=topic_id, replicas=replicas, isr=isr,
        leader=isr[0], leader_epoch=0, partition_epoch=0,
    )


def _new_topic_id(image: MetadataImage, taken: set[uuid.UUID], rng: random.Random) -> uuid.UUID:
    while True:
        topic_id = kafka_uuid.random_uuid(rng)
        if topic_id not in image.topics.by_id and topic_id not in taken:
            taken.add(topic_id)
            return topic_id


def _broker_dynamic_configs(
    image: MetadataImage, ctx: ControllerContext
) -> tuple[dict[str, str], dict[str, str]]:
    """(this node's dynamic broker configs, cluster-wide dynamic broker defaults)."""
    own = image.configs.get(ConfigResource(BROKER_RESOURCE, str(ctx.config.node_id)))
    default = image.configs.get(ConfigResource(BROKER_RESOURCE, ""))
    return dict(own), dict(default)


# --- CreateTopics ----------------------------------------------------------------------

@dataclass
class _TopicPlan:
    """A topic that will be created: its id, configs and partitions (replicas, isr)."""

    topic_id: uuid.UUID
    configs: dict[str, str]
    partitions: list[tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def records(self, name: str) -> list[MetadataRecord]:
        out: list[MetadataRecord] = [TopicRecord(name=name, topic_id=self.topic_id)]
        out += [ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name=name, name=k, value=v)
                for k, v in sorted(self.configs.items())]
        out += [_partition_record(self.topic_id, p, replicas, isr)
                for p, (replicas, isr) in enumerate(self.partitions)]
        return out


def _plan_topic(
    image: MetadataImage,
    topic: Any,
    ctx: ControllerContext,
    claimed: dict[str, str],
    taken_ids: set[uuid.UUID],
    budget: int,
) -> _TopicPlan | Error:
    """The plan for one requested topic, or its error. Raises _TooLarge past `budget`."""
    name = topic.name
    if name == CLUSTER_METADATA_TOPIC:
        return ErrorCode.invalid_request, f"Creation of internal topic {name} is prohibited."
    if name in image.topics.by_name:
        return ErrorCode.topic_already_exists, f"Topic '{name}' already exists."
    invalid = validate_topic_name(name)
    if invalid is not None:
        return ErrorCode.invalid_topic_exception, invalid
    key = _collision_key(name)
    if key is not None and key in claimed:
        return (ErrorCode.invalid_topic_exception,
                f"Topic '{name}' collides with existing topic: {claimed[key]}")
    configs: dict[str, str | None] = {c.name: c.value for c in topic.configs}
    config_error = validate_topic_configs(configs)
    if config_error is not None:
        return ErrorCode.invalid_config, config_error
    plan = _TopicPlan(_ZERO_UUID, {k: v for k, v in configs.items() if v is not None})
    if topic.assignments:
        error = _plan_manual(image, topic, plan, budget)
    else:
        error = _plan_automatic(image, topic, plan, ctx, budget)
    if error is not None:
        return error
    plan.topic_id = _new_topic_id(image, taken_ids, ctx.rng)
    return plan


def _plan_manual(image: MetadataImage, topic: Any, plan: _TopicPlan, budget: int) -> Error | None:
    if topic.replication_factor != -1:
        return (ErrorCode.invalid_request, "A manual partition assignment was specified, "
                "but replication factor was not set to -1.")
    if topic.num_partitions != -1:
        return (ErrorCode.invalid_request, "A manual partition assignment was specified, "
                "but numPartitions was not set to -1.")
    if len(topic.assignments) + len(plan.configs) + 1 > budget:
        raise _TooLarge
    by_index: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    replication_factor = None
    for assignment in topic.assignments:
        index, replicas = assignment.partition_index, tuple(assignment.broker_ids)
        if index in by_index:
            return (ErrorCode.invalid_replica_assignment,
                    f"Found multiple manual partition assignments for partition {index}")
        error = _manual_assignment_error(image, replicas, replication_factor)
        if error is not None:
            return ErrorCode.invalid_replica_assignment, error
        replication_factor = len(replicas)
        isr = _active_replicas(image, replicas)
        if not isr:
            return (ErrorCode.invalid_replica_assignment, "All brokers specified in the manual "
                    f"partition assignment for partition {index} are fenced or in controlled "
                    "shutdown.")
        by_index[index] = (replicas, isr)
    if sorted(by_index) != list(range(len(by_index))):
        return (ErrorCode.invalid_replica_assignment,
                "partitions should be a consecutive 0-based integer sequence")
    plan.partitions = [by_index[i] for i in range(len(by_index))]
    return None


def _plan_automatic(
    image: MetadataImage, topic: Any, plan: _TopicPlan, ctx: ControllerContext, budget: int
) -> Error | None:
    if topic.replication_factor < -1 or topic.replication_factor == 0:
        return (ErrorCode.invalid_replication_factor,
                "Replication factor must be larger than 0, or -1 to use the default value.")
    if topic.num_partitions < -1 or topic.num_partitions == 0:
        return (ErrorCode.invalid_partitions,
                "Number of partitions was set to an invalid non-positive value.")
    n_partitions = (ctx.config.num_partitions if topic.num_partitions == -1
                    else topic.num_partitions)
    replication_factor = (ctx.config.default_replication_factor
                          if topic.replication_factor == -1 else topic.replication_factor)
    error = placement_error(image, replication_factor)
    if error is not None:
        return (ErrorCode.invalid_replication_factor,
                f"Unable to replicate the partition {replication_factor} time(s): {error}")
    if n_partitions <= 0:
        return (ErrorCode.invalid_partitions,
                "Number of partitions was set to an invalid non-positive value.")
    if n_partitions + len(plan.configs) + 1 > budget:
        raise _TooLarge
    assignments = place_replicas(usable_brokers(image), 0, n_partitions, replication_factor,
                                 ctx.rng)
    plan.partitions = [(replicas, replicas) for replicas in assignments]
    return None


def create_topics(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """CreateTopics v2-7: create each requested topic that passes Kafka's checks.

    One result per distinct requested name, in request order. A name requested
    twice fails with INVALID_REQUEST. v5+ results of created topics carry the
    partition count, replication factor and every effective config; v7 the id.
    """
    response_cls = response_type(ApiKey.CREATE_TOPICS, version)
    result_cls = nested(response_cls, "CreatableTopicResult")
    counts = Counter(t.name for t in request.topics)
    claimed = {k: name for name in image.topics.by_name
               if (k := _collision_key(name)) is not None}
    taken_ids: set[uuid.UUID] = set()
    outcomes: dict[str, _TopicPlan | Error] = {}
    records: list[MetadataRecord] = []
    try:
        for topic in request.topics:
            if topic.name in outcomes:
                continue
            if counts[topic.name] > 1:
                outcomes[topic.name] = (ErrorCode.invalid_request, "Duplicate topic name.")
                continue
            outcome = _plan_topic(image, topic, ctx, claimed, taken_ids,
                                  MAX_RECORDS_PER_USER_OP - len(records))
            outcomes[topic.name] = outcome
            if isinstance(outcome, _TopicPlan):
                records += outcome.records(topic.name)
                key = _collision_key(topic.name)
                if key is not None:
                    claimed[key] = topic.name
    except _TooLarge:
        names = list(dict.fromkeys(t.name for t in request.topics))
        outcomes = {name: (ErrorCode.policy_violation, _TOO_LARGE) for name in names}
        records = []
    own, default = _broker_dynamic_configs(image, ctx)
    results = [
        _creatable_result(result_cls, version, name, outcome, ctx, own, default)
        for name, outcome in outcomes.items()
    ]
    response = build(response_cls, throttle_time=_NO_THROTTLE, topics=tuple(results))
    return ControllerResult(() if request.validate_only else tuple(records), response)


def _creatable_result(
    result_cls: type,
    version: int,
    name: str,
    outcome: _TopicPlan | Error,
    ctx: ControllerContext,
    own: dict[str, str],
    default: dict[str, str],
) -> Any:
    if not isinstance(outcome, _TopicPlan):
        code, message = outcome
        return build(result_cls, name=name, topic_id=None, error_code=code,
                     error_message=message, num_partitions=-1, replication_factor=-1,
                     configs=())
    configs: tuple[Any, ...] = ()
    if version >= 5:
        config_cls = nested(result_cls, "CreatableTopicConfigs")
        configs = tuple(
            config_cls(name=e.name, value=None if e.is_sensitive else e.value,
                       read_only=e.read_only, config_source=e.source,
                       is_sensitive=e.is_sensitive)
            for e in describe_topic_configs(ctx.config, outcome.configs, own, default)
        )
    return build(
        result_cls, name=name, topic_id=outcome.topic_id, error_code=ErrorCode.none,
        error_message=None, num_partitions=len(outcome.partitions),
        replication_factor=len(outcome.partitions[0][0]), configs=configs,
    )


# --- DeleteTopics ----------------------------------------------------------------------

@dataclass
class _Deletion:
    """One result slot of DeleteTopics."""

    name: str | None
    topic_id: uuid.UUID | None
    error: Error = (ErrorCode.none, None)


def delete_topics(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """DeleteTopics v1-6: remove each named (v1-6) or identified (v6) topic.

    Answers in request order, one result per distinct name or id. With
    delete.topic.enable=false every topic fails: INVALID_REQUEST before v3,
    TOPIC_DELETION_DISABLED from v3 (as Kafka). An internal topic
    (`__consumer_offsets`, `__transaction_state`), by name or by id, is refused
    with INVALID_TOPIC_EXCEPTION and kept, the rest of the request goes ahead:
    deleting it would silently drop every committed offset or transaction.
    Kafka's controller has no such check (only kafka-topics.sh refuses); the
    error and message are those of Kafka's refusal to delete records of an
    internal topic (issue 12).
    """
    response_cls = response_type(ApiKey.DELETE_TOPICS, version)
    result_cls = nested(response_cls, "DeletableTopicResult")
    if version >= 6:
        entries = [(t.name, None if t.topic_id == _ZERO_UUID else t.topic_id)
                   for t in request.topics]
    else:
        entries = [(name, None) for name in request.topic_names]
    slots = _deletion_slots(image, entries)
    for slot in slots:
        if slot.error[0] == ErrorCode.none and slot.name in INTERNAL_TOPICS:
            slot.error = (ErrorCode.invalid_topic_exception,
                          f"Cannot delete internal topic {slot.name}")
    if not ctx.config.delete_topic_enable:
        code = ErrorCode.invalid_request if version < 3 else ErrorCode.topic_deletion_disabled
        for slot in slots:
            slot.error = (code, "Topic deletion is disabled.")
    records = tuple(
        RemoveTopicRecord(topic_id=slot.topic_id)
        for slot in slots
        if slot.error[0] == ErrorCode.none and slot.topic_id is not None
    )
    results = tuple(
        build(result_cls, name=s.name, topic_id=s.topic_id, error_code=s.error[0],
              error_message=s.error[1])
        for s in slots
    )
    return ControllerResult(records, build(response_cls, throttle_time=_NO_THROTTLE,
                                           responses=results))


def _deletion_slots(
    image: MetadataImage, entries: list[tuple[str | None, uuid.UUID | None]]
) -> list[_Deletion]:
    """Kafka's ControllerApis.deleteTopics resolution: a slot per entry, errors filled in."""
    slots: list[_Deletion] = []
    by_name: dict[str, _Deletion] = {}
    by_id: dict[uuid.UUID, _Deletion] = {}
    duplicates: set[str | uuid.UUID] = set()
    for name, topic_id in entries:
        if name is None and topic_id is None:
            slots.append(_Deletion(None, None, (ErrorCode.invalid_request,
                                                "Neither topic name nor id were specified.")))
        elif name is not None and topic_id is not None:
            slots.append(_Deletion(name, topic_id, (
                ErrorCode.invalid_request, "You may not specify both topic name and topic id.")))
        elif name is not None:
            if name in by_name:
                duplicates.add(name)
            else:
                by_name[name] = _Deletion(name, None)
                slots.append(by_name[name])
        elif topic_id is not None:
            if topic_id in by_id:
                duplicates.add(topic_id)
            else:
                by_id[topic_id] = _Deletion(None, topic_id)
                slots.append(by_id[topic_id])
    for topic_id, slot in by_id.items():
        topic = image.topics.by_id.get(topic_id)
        if topic_id in duplicates:
            slot.error = (ErrorCode.invalid_request, "Duplicate topic id.")
        elif topic is None:
            slot.error = (ErrorCode.unknown_topic_id, _UNKNOWN_TOPIC_ID)
        else:
            slot.name = topic.name
    for name, slot in by_name.items():
        topic = image.topics.by_name.get(name)
        if name in duplicates:
            slot.error = (ErrorCode.invalid_request, "Duplicate topic name.")
        elif topic is None:
            slot.error = (ErrorCode.unknown_topic_or_partition, _UNKNOWN_TOPIC)
        elif topic.topic_id in by_id:
            error = (ErrorCode.invalid_request,
                     "The provided topic name maps to an ID that was already supplied.")
            slot.topic_id, slot.error = topic.topic_id, error
            by_id[topic.topic_id].error = error
        else:
            slot.topic_id = topic.topic_id
    return slots


# --- CreatePartitions ------------------------------------------------------------------

def create_partitions(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """CreatePartitions v0-3: grow each topic to `count` partitions.

    One result per distinct requested name, in request order; a name requested
    twice fails with INVALID_REQUEST. New partitions get partition 0's
    replication factor, placed automatically unless `assignments` is given.
    """
    response_cls = response_type(ApiKey.CREATE_PARTITIONS, version)
    result_cls = nested(response_cls, "CreatePartitionsTopicResult")
    counts = Counter(t.name for t in request.topics)
    errors: dict[str, Error] = {}
    records: list[MetadataRecord] = []
    try:
        for topic in request.topics:
            if topic.name in errors:
                continue
            if counts[topic.name] > 1:
                errors[topic.name] = (ErrorCode.invalid_request, "Duplicate topic name.")
                continue
            outcome = _new_partitions(image, topic, ctx, MAX_RECORDS_PER_USER_OP - len(records))
            if isinstance(outcome, list):
                records += outcome
                errors[topic.name] = (ErrorCode.none, None)
            else:
                errors[topic.name] = outcome
    except _TooLarge:
        errors = {t.name: (ErrorCode.policy_violation, _TOO_LARGE) for t in request.topics}
        records = []
    results = tuple(
        build(result_cls, name=name, error_code=code, error_message=message)
        for name, (code, message) in errors.items()
    )
    response = build(response_cls, throttle_time=_NO_THROTTLE, results=results)
    return ControllerResult(() if request.validate_only else tuple(records), response)


def _new_partitions(
    image: MetadataImage, topic: Any, ctx: ControllerContext, budget: int
) -> list[MetadataRecord] | Error:
    """The PartitionRecords growing one topic, or its error (Kafka's messages)."""
    current = image.topics.by_name.get(topic.name)
    if current is None or not current.partitions:
        return ErrorCode.unknown_topic_or_partition, None
    existing = len(current.partitions)
    if topic.count == existing:
        return ErrorCode.invalid_partitions, f"Topic already has {existing} partition(s)."
    if topic.count < existing:
        return (ErrorCode.invalid_partitions, f"The topic {topic.name} currently has "
                f"{existing} partition(s); {topic.count} would not be an increase.")
    additional = topic.count - existing
    if topic.assignments is not None and len(topic.assignments) != additional:
        return (ErrorCode.invalid_replica_assignment, f"Attempted to add {additional} "
                f"additional partition(s), but only {len(topic.assignments)} assignment(s) "
                "were specified.")
    if additional > budget:
        raise _TooLarge
    replication_factor = len(current.partitions[min(current.partitions)].replicas)
    partitions: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    if topic.assignments is not None:
        for i, assignment in enumerate(topic.assignments):
            replicas = tuple(assignment.broker_ids)
            error = _manual_assignment_error(image, replicas, replication_factor)
            if error is not None:
                return ErrorCode.invalid_replica_assignment, error
            isr = _active_replicas(image, replicas)
            if not isr:
                return (ErrorCode.invalid_replica_assignment, "All brokers specified in the "
                        f"manual partition assignment for partition {existing + i} are fenced "
                        "or in controlled shutdown.")
            partitions.append((replicas, isr))
    else:
        error = placement_error(image, replication_factor)
        if error is not None:
            return ErrorCode.invalid_replication_factor, error
        partitions = [(r, r) for r in place_replicas(
            usable_brokers(image), existing, additional, replication_factor, ctx.rng)]
    return [
        _partition_record(current.topic_id, existing + i, replicas, isr)
        for i, (replicas, isr) in enumerate(partitions)
    ]
