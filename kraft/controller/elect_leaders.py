"""ElectLeaders (key 43) v0-2 and automatic leader balancing (Kafka's
ReplicationControlManager.electLeaders / electLeader and maybeBalancePartitionLeaders).

Theory of operation: leadership moves away from a broker when it is fenced
or shuts down, and the ONLINE election keeps the new leader when the broker
comes back. After a rolling restart one broker may lead everything. Two
ways bring leadership back to each partition's *preferred replica* (the
first in replica order), both through `build_partition_change`, so the
leader epoch is bumped and the old leader becomes a follower:

- `elect_leaders`, the admin request (`kafka-leader-election.sh`,
  AdminClient.elect_leaders). Election type PREFERRED (0; the only one in
  v0) or UNCLEAN (1: elect a leaderless partition's first acceptable replica
  even outside the ISR, whatever `unclean.leader.election.enable` says: the
  operator asked for it). Per partition, in Kafka's order:

  1. unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
  2. PREFERRED and the preferred replica already leads, or UNCLEAN and the
     partition has a leader: ELECTION_NOT_NEEDED;
  3. no change possible: PREFERRED_LEADER_NOT_AVAILABLE (the preferred
     replica is out of the ISR, fenced or shutting down) or
     ELIGIBLE_LEADERS_NOT_AVAILABLE (UNCLEAN, no acceptable replica at all);
  4. else NONE, with one PartitionChangeRecord.

  A null topic list means every partition; then ELECTION_NOT_NEEDED results
  are left out, as Kafka does. A partition named twice is elected once and
  answered once. An unknown election type answers INVALID_REQUEST for the
  whole request and every partition it names, as Kafka's error response does
  (v1+; v0 has no such field).

- `balance_leaders`, run by the active controller every
  leader.imbalance.check.interval.seconds (default 300) while
  auto.leader.rebalance.enable (default true): a PREFERRED election for every
  partition whose preferred replica is in the ISR and acceptable but does not
  lead, at most MAX_ELECTIONS_PER_IMBALANCE per run. Like Kafka's KRaft
  controller it ignores leader.imbalance.per.broker.percentage: any
  imbalanced partition counts. A run that hit the cap is followed by another
  at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.controller.partition_change import build_partition_change, is_acceptable_leader
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage, PartitionRegistration
from kraft.metadata.records import NO_LEADER, PartitionChangeRecord
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested

__all__ = [
    "MAX_ELECTIONS_PER_IMBALANCE",
    "PREFERRED",
    "UNCLEAN",
    "balance_leaders",
    "elect_leaders",
    "imbalanced_partitions",
]

log = logging.getLogger("kraft.controller")

PREFERRED: Final = 0
UNCLEAN: Final = 1
MAX_ELECTIONS_PER_IMBALANCE: Final = 1000  # Kafka's QuorumController default

_NO_THROTTLE: Final = timedelta(0)
_MESSAGES: Final = {
    ErrorCode.election_not_needed: "Leader election not needed for topic partition.",
    ErrorCode.preferred_leader_not_available:
        "The preferred leader was not available.",
    ErrorCode.eligible_leaders_not_available:
        "Eligible topic partition leaders are not available.",
}


def _elect_one(
    image: MetadataImage, topic_id: uuid.UUID, partition_id: int,
    partition: PartitionRegistration, election_type: int,
) -> tuple[ErrorCode, PartitionChangeRecord | None]:
    """Steps 2-4 of the module doc for one existing partition."""
    if election_type == PREFERRED:
        if partition.replicas and partition.leader == partition.replicas[0]:
            return ErrorCode.election_not_needed, None
    elif partition.leader != NO_LEADER:
        return ErrorCode.election_not_needed, None
    record = build_partition_change(
        topic_id, partition_id, partition, lambda b: is_acceptable_leader(image, b),
        unclean=election_type == UNCLEAN, preferred=election_type == PREFERRED,
    )
    if record is None:
        return (ErrorCode.preferred_leader_not_available if election_type == PREFERRED
                else ErrorCode.eligible_leaders_not_available), None
    return ErrorCode.none, record


def _requested(image: MetadataImage, request: Any) -> Iterator[tuple[str, int]]:
    """(topic name, partition id) in request order, each once; every partition when
    the request names none."""
    if request.topic_partitions is None:
        for name in sorted(image.topics.by_name):
            for partition_id in sorted(image.topics.by_name[name].partitions):
                yield name, partition_id
        return
    seen: set[tuple[str, int]] = set()
    for entry in request.topic_partitions:
        for partition_id in entry.partitions:
            key = (entry.topic, partition_id)
            if key not in seen:
                seen.add(key)
                yield key


def elect_leaders(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """The ElectLeaders response and its PartitionChangeRecords (see module doc)."""
    cls = response_type(ApiKey.ELECT_LEADERS, version)
    assert cls is not None
    election_type = getattr(request, "election_type", PREFERRED)
    result_cls = nested(cls, "ReplicaElectionResult")
    partition_cls = nested(cls, "PartitionResult")
    if election_type not in (PREFERRED, UNCLEAN):
        unknown = f"Unknown election type {election_type}"
        return ControllerResult((), build(
            cls, throttle_time=_NO_THROTTLE, error_code=ErrorCode.invalid_request,
            replica_election_results=tuple(
                build(result_cls, topic=t.topic, partition_result=tuple(
                    build(partition_cls, partition_id=p, error_code=ErrorCode.invalid_request,
                          error_message=unknown)
                    for p in t.partitions))
                for t in request.topic_partitions or ())))
    every_partition = request.topic_partitions is None
    records: list[PartitionChangeRecord] = []
    by_topic: dict[str, list[Any]] = {}
    for name, partition_id in _requested(image, request):
        message: str | None
        topic = image.topics.by_name.get(name)
        partition = topic.partitions.get(partition_id) if topic is not None else None
        if topic is None:
            code, message = ErrorCode.unknown_topic_or_partition, f"No such topic as {name}"
        elif partition is None:
            code = ErrorCode.unknown_topic_or_partition
            message = f"No such partition as {name}-{partition_id}"
        else:
            code, record = _elect_one(image, topic.topic_id, partition_id, partition,
                                      election_type)
            message = _MESSAGES.get(code)
            if record is not None:
                records.append(record)
        if every_partition and code == ErrorCode.election_not_needed:
            continue
        by_topic.setdefault(name, []).append(
            build(partition_cls, partition_id=partition_id, error_code=code,
                  error_message=message))
    if records:
        log.info("elected %s leaders for %d partitions",
                 "preferred" if election_type == PREFERRED else "unclean", len(records))
    response = build(
        cls, throttle_time=_NO_THROTTLE, error_code=ErrorCode.none,
        replica_election_results=tuple(
            build(result_cls, topic=name, partition_result=tuple(results))
            for name, results in by_topic.items()
        ),
    )
    return ControllerResult(tuple(records), response)


def imbalanced_partitions(
    image: MetadataImage,
) -> Iterator[tuple[uuid.UUID, int, PartitionRegistration]]:
    """Partitions whose preferred replica could lead (in the ISR, acceptable) but does
    not, in a stable order."""
    for topic_id, topic in image.topics.by_id.items():
        for partition_id in sorted(topic.partitions):
            partition = topic.partitions[partition_id]
            if not partition.replicas:
                continue
            preferred = partition.replicas[0]
            if (partition.leader != preferred and preferred in partition.isr
                    and is_acceptable_leader(image, preferred)):
                yield topic_id, partition_id, partition


def balance_leaders(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[int]:
    """A PREFERRED election for up to MAX_ELECTIONS_PER_IMBALANCE imbalanced partitions;
    the response is how many it elected (at the cap, the controller runs it again at
    once rather than after the interval, as Kafka does)."""
    records = []
    for topic_id, partition_id, partition in imbalanced_partitions(image):
        record = build_partition_change(
            topic_id, partition_id, partition, lambda b: is_acceptable_leader(image, b),
            preferred=True,
        )
        if record is not None:
            records.append(record)
            if len(records) == MAX_ELECTIONS_PER_IMBALANCE:
                break
    if records:
        log.info("leader balancing: moving leadership of %d partitions back to their "
                 "preferred replicas", len(records))
    return ControllerResult(tuple(records), len(records))
