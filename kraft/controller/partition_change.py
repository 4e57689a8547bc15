"""Leader election and ISR changes (Kafka's PartitionChangeBuilder and the
`generateLeaderAndIsrUpdates` of ReplicationControlManager).

Theory of operation: every change to a partition's leader or ISR is one
PartitionChangeRecord, computed by `build_partition_change` from the current
PartitionRegistration, a target ISR and a predicate saying which brokers are
*acceptable* leaders. The election follows Kafka's ONLINE election:

1. the current leader stays if it is in the target ISR and acceptable;
2. else the first replica, in replica order, that is in the target ISR and
   acceptable (so a leaderless partition gets its preferred replica when it can);
3. else, only if unclean election is enabled for the topic, the first
   acceptable replica even outside the ISR: the ISR becomes just that leader
   and the leader recovery state RECOVERING (data may have been lost);
4. else no leader (NO_LEADER = -1).

The PREFERRED election (ElectLeaders and automatic leader balancing) first
tries the preferred replica (the first in replica order), then goes on as
above; so it moves leadership back to the preferred replica when that one is
in the ISR and acceptable, and otherwise changes nothing for a led partition.

The record sets `leader` only when the elected leader differs from the
current one, which bumps the leader epoch (also when going to NO_LEADER);
an ISR change alone does not bump it (Kafka since metadata.version
3.6-IV0, KAFKA-15021; we always behave as that version). The ISR is never
set to empty: when the target ISR would be empty the current ISR is kept,
so a partition whose last in-sync replica went away keeps that replica and
can recover when it returns (Kafka without ELR, KIP-966). A change that
changes nothing is no record at all.

An *acceptable* leader is a registered broker that is neither fenced nor in
controlled shutdown (Kafka's `ClusterControlManager.isActive`).
`broker_unavailable_changes` and `broker_available_changes` apply the
election to every partition affected by one broker going away or coming
back; like Kafka's `brokerToRemove` / `brokerToAdd`, the broker in question
counts as unacceptable / acceptable whatever the image says, so callers may
pass the image before or after the broker's own registration change.

Unclean election is enabled for a topic by `unclean.leader.election.enable`,
resolved as Kafka does: the topic's dynamic config, else the controller
node's dynamic broker config, else the cluster-wide dynamic broker default,
else the static config (default false).

Reassignment (adding/removing replicas, KIP-455) completes inside
`build_partition_change`; not modelled: ELR, log directories.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Final

import msgspec

from kraft.config import KafkaConfig
from kraft.metadata.image import (
    ConfigResource,
    MetadataImage,
    PartitionRegistration,
)
from kraft.metadata.records import NO_LEADER, TOPIC_RESOURCE, PartitionChangeRecord
from kraft.topic_configs import dynamic_broker_configs, topic_config_value

__all__ = [
    "RECOVERED",
    "RECOVERING",
    "UNCLEAN_LEADER_ELECTION_ENABLE",
    "broker_available_changes",
    "broker_unavailable_changes",
    "build_partition_change",
    "elect_leader",
    "is_acceptable_leader",
    "leads_partitions",
    "unclean_election_enabled",
]

# Kafka's LeaderRecoveryState values.
RECOVERED: Final = 0
RECOVERING: Final = 1

UNCLEAN_LEADER_ELECTION_ENABLE: Final = "unclean.leader.election.enable"
_DEFAULT_CONFIG: Final = KafkaConfig({})


def is_acceptable_leader(image: MetadataImage, broker_id: int) -> bool:
    """True if `broker_id` is registered, unfenced and not in controlled shutdown."""
    registration = image.cluster.brokers.get(broker_id)
    return registration is not None and registration.active


def unclean_election_enabled(
    image: MetadataImage, topic_name: str, config: KafkaConfig | None = None
) -> bool:
    """Whether unclean leader election is enabled for `topic_name` (see module doc).

    `config` is the controller's static config (None: Kafka's default, false);
    its node.id picks the node-level dynamic config. A value counts as true
    when it is "true" in any case, as Java's Boolean.parseBoolean.
    """
    config = config if config is not None else _DEFAULT_CONFIG
    value = topic_config_value(
        config, image.configs.get(ConfigResource(TOPIC_RESOURCE, topic_name)),
        UNCLEAN_LEADER_ELECTION_ENABLE, *dynamic_broker_configs(image, config.node_id),
    )
    return value.strip().lower() == "true"


def elect_leader(
    current: PartitionRegistration,
    target_isr: Sequence[int],
    is_acceptable: Callable[[int], bool],
    *,
    unclean: bool = False,
    preferred: bool = False,
) -> tuple[int, bool]:
    """The leader Kafka's ONLINE (or with `preferred`, PREFERRED) election picks, and
    whether the pick was unclean.

    Returns (NO_LEADER, False) when nobody can lead.
    """
    if preferred and current.replicas:
        first = current.replicas[0]
        if first in target_isr and is_acceptable(first):
            return first, False
    if current.leader in target_isr and is_acceptable(current.leader):
        return current.leader, False
    for replica in current.replicas:
        if replica in target_isr and is_acceptable(replica):
            return replica, False
    if unclean:
        for replica in current.replicas:
            if is_acceptable(replica):
                return replica, True
    return NO_LEADER, False


def build_partition_change(
    topic_id: uuid.UUID,
    partition_id: int,
    current: PartitionRegistration,
    is_acceptable: Callable[[int], bool],
    *,
    target_isr: Sequence[int] | None = None,
    target_replicas: Sequence[int] | None = None,
    target_adding: Sequence[int] | None = None,
    target_removing: Sequence[int] | None = None,
    unclean: bool = False,
    preferred: bool = False,
    target_leader_recovery_state: int | None = None,
) -> PartitionChangeRecord | None:
    """The record moving `current` to `target_isr` with a fresh election, or None if
    nothing would change (Kafka's `PartitionChangeBuilder.build`).

    `target_isr` None keeps the current ISR; an empty target ISR keeps it too
    (the last in-sync replica is never removed). `target_replicas`,
    `target_adding` and `target_removing` (None: unchanged) start or revert a
    reassignment (kraft.controller.reassignments). Whatever the change, a
    reassignment in progress *completes* in it when every adding replica is in
    the resulting ISR, and, if the target is smaller than the replica set it
    replaces, every target replica is (KAFKA-15665/KAFKA-19975: shrinking must
    not drop in-sync copies while a target replica lags), and neither the
    replicas nor the ISR would be left empty: the removing replicas leave the
    replicas and the ISR, adding and removing are cleared, and the leader is
    elected again among what remains. The leader epoch is bumped whenever a
    replica leaves the replica set (completion or cancel), so removed
    followers are fenced, and on every completion. `target_leader_recovery_state` None keeps the
    current state (an unclean election sets RECOVERING anyway). `preferred`
    runs the PREFERRED election instead of the ONLINE one.
    """
    isr = tuple(current.isr if target_isr is None else target_isr)
    replicas = current.replicas if target_replicas is None else tuple(target_replicas)
    adding = current.adding_replicas if target_adding is None else tuple(target_adding)
    removing = current.removing_replicas if target_removing is None else tuple(target_removing)
    completed = False
    if (adding or removing) and all(r in isr for r in adding):
        final_replicas = tuple(r for r in replicas if r not in removing)
        final_isr = tuple(r for r in isr if r not in removing)
        replaced = len(replicas) - len(adding)
        shrinking_safely = (len(final_replicas) >= replaced
                            or all(r in final_isr for r in final_replicas))
        if final_replicas and final_isr and shrinking_safely:
            replicas, isr, adding, removing = final_replicas, final_isr, (), ()
            completed = True
    electing = current if replicas == current.replicas else msgspec.structs.replace(
        current, replicas=replicas)
    leader, was_unclean = elect_leader(electing, isr, is_acceptable, unclean=unclean,
                                       preferred=preferred)
    new_leader: int | None = None
    new_isr: tuple[int, ...] | None = None
    new_recovery: int | None = None
    replica_left = any(r not in replicas for r in current.replicas)
    if leader != current.leader or completed or replica_left:
        new_leader = leader
        if was_unclean:
            # The new leader may lack committed data: it alone is in sync, and it must
            # recover before the ISR grows (Kafka's LeaderRecoveryState.RECOVERING).
            new_isr = (leader,)
            if current.leader_recovery_state != RECOVERING:
                new_recovery = RECOVERING
    if new_isr is None and isr and isr != current.isr:
        new_isr = isr
    if (
        new_recovery is None
        and target_leader_recovery_state is not None
        and target_leader_recovery_state != current.leader_recovery_state
    ):
        new_recovery = target_leader_recovery_state
    new_replicas = replicas if replicas != current.replicas else None
    new_adding = adding if adding != current.adding_replicas else None
    new_removing = removing if removing != current.removing_replicas else None
    if (new_leader is None and new_isr is None and new_recovery is None
            and new_replicas is None and new_adding is None and new_removing is None):
        return None
    return PartitionChangeRecord(
        partition_id=partition_id,
        topic_id=topic_id,
        isr=new_isr,
        leader=new_leader,
        replicas=new_replicas,
        removing_replicas=new_removing,
        adding_replicas=new_adding,
        leader_recovery_state=new_recovery,
    )


def _partitions(
    image: MetadataImage,
) -> Iterator[tuple[str, uuid.UUID, int, PartitionRegistration]]:
    """(topic name, topic id, partition id, partition) for every partition, in a stable order."""
    for topic_id, topic in image.topics.by_id.items():
        for partition_id in sorted(topic.partitions):
            yield topic.name, topic_id, partition_id, topic.partitions[partition_id]


def leads_partitions(image: MetadataImage, broker_id: int) -> bool:
    """True if `broker_id` is the leader of at least one partition (Kafka's `hasLeaderships`)."""
    return any(p.leader == broker_id for _, _, _, p in _partitions(image))


def broker_unavailable_changes(
    image: MetadataImage, broker_id: int, config: KafkaConfig | None = None
) -> list[PartitionChangeRecord]:
    """Changes for `broker_id` going away (fenced, controlled shutdown, unregistered,
    replaced by a new incarnation): for every partition whose ISR holds it, it leaves
    the ISR unless it is the last member, and a partition it led gets a new leader or
    none. `broker_id` is unacceptable as leader whatever `image` says.
    """
    def acceptable(replica: int) -> bool:
        return replica != broker_id and is_acceptable_leader(image, replica)

    records = []
    for name, topic_id, partition_id, partition in _partitions(image):
        if broker_id not in partition.isr:
            continue
        record = build_partition_change(
            topic_id,
            partition_id,
            partition,
            acceptable,
            target_isr=tuple(r for r in partition.isr if r != broker_id),
            unclean=unclean_election_enabled(image, name, config),
        )
        if record is not None:
            records.append(record)
    return records


def broker_available_changes(
    image: MetadataImage, broker_id: int, config: KafkaConfig | None = None
) -> list[PartitionChangeRecord]:
    """Changes for `broker_id` becoming available (unfenced): every leaderless partition
    is offered an election in which `broker_id` counts as acceptable whatever `image`
    says (Kafka elects over all leaderless partitions, so another replica, or with
    unclean election one outside the ISR, may win).
    """
    def acceptable(replica: int) -> bool:
        return replica == broker_id or is_acceptable_leader(image, replica)

    records = []
    for name, topic_id, partition_id, partition in _partitions(image):
        if partition.leader != NO_LEADER:
            continue
        record = build_partition_change(
            topic_id,
            partition_id,
            partition,
            acceptable,
            unclean=unclean_election_enabled(image, name, config),
        )
        if record is not None:
            records.append(record)
    return records
