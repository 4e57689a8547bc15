"""The group APIs as the request handlers call them, over a GroupCoordinator.

Each function is one Kafka API's coordinator side (Kafka's
GroupCoordinatorService plus the shard operation), in Kafka 4's order of
checks: the coordinator must be running (COORDINATOR_NOT_AVAILABLE); the
group id must be non-empty for JoinGroup, SyncGroup, Heartbeat, LeaveGroup
and OffsetDelete (INVALID_GROUP_ID; OffsetCommit, OffsetFetch,
DescribeGroups and DeleteGroups accept "" for backwards compatibility); this
broker must coordinate the group (NOT_COORDINATOR) and have loaded it
(COORDINATOR_LOAD_IN_PROGRESS, answered as Kafka does per API); then the
group state machine decides. Request-level checks that need the topic
metadata (unknown topics in OffsetCommit / OffsetDelete) are the handlers'.

Answers are plain values (kraft.broker.group.types); the handlers build the
kio responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from kraft.broker.group.coordinator import Route, TopicPartition, Waiter
from kraft.broker.group.records import OffsetCommitValue
from kraft.broker.group.types import (
    DEAD_GROUP,
    UNKNOWN_MEMBER_ID,
    GroupState,
    GroupSummary,
    JoinRequest,
    JoinResult,
    Outbox,
    SyncResult,
)
from kraft.broker.producer_state import NOT_REQUIRED, NotRequired, VerificationGuard

if TYPE_CHECKING:
    from kraft.broker.group.coordinator import GroupCoordinator

CLASSIC_GROUP_TYPE = "classic"


@dataclass(frozen=True, slots=True)
class OffsetCommitEntry:
    topic: str
    partition: int
    offset: int
    leader_epoch: int
    metadata: str | None


@dataclass(frozen=True, slots=True)
class ListedGroup:
    group_id: str
    protocol_type: str
    state: str
    group_type: str = CLASSIC_GROUP_TYPE


def _route(coordinator: GroupCoordinator, group_id: str, *, require_id: bool) -> Route:
    """Kafka's validateGroupStatus: COORDINATOR_NOT_AVAILABLE while the coordinator is
    not active, INVALID_GROUP_ID for an empty id where the API needs one (JoinGroup,
    SyncGroup, Heartbeat, LeaveGroup, OffsetDelete), then the group's shard or why
    it is not here (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS)."""
    if not coordinator.active:
        return Route(None, ErrorCode.coordinator_not_available)
    if require_id and not group_id:
        return Route(None, ErrorCode.invalid_group_id)
    return coordinator.route(group_id)


async def join_group(coordinator: GroupCoordinator, group_id: str, req: JoinRequest) -> JoinResult:
    route = _route(coordinator, group_id, require_id=True)
    if route.shard is None:
        return JoinResult(route.error, req.member_id)
    if not (coordinator.min_session_timeout_ms <= req.session_timeout_ms
            <= coordinator.max_session_timeout_ms):
        return JoinResult(ErrorCode.invalid_session_timeout, req.member_id)
    shard = route.shard
    now = coordinator.clock()
    group = shard.groups.get(group_id)
    if group is None:
        if req.member_id != UNKNOWN_MEMBER_ID:
            return JoinResult(ErrorCode.unknown_member_id, req.member_id)
        group = shard.groups[group_id] = coordinator.new_group(group_id, now)
    waiter = Waiter()
    out = Outbox()
    group.join(now, out, waiter, req)
    coordinator.deliver(shard, group, out)
    result: JoinResult = await waiter.wait()
    return result


async def sync_group(
    coordinator: GroupCoordinator,
    group_id: str,
    *,
    member_id: str,
    group_instance_id: str | None,
    generation_id: int,
    protocol_type: str | None,
    protocol_name: str | None,
    assignments: dict[str, bytes],
) -> SyncResult:
    route = _route(coordinator, group_id, require_id=True)
    if route.shard is None:
        # While loading, the rebalance state is lost: make the member rejoin (Kafka
        # does not send COORDINATOR_LOAD_IN_PROGRESS here; old clients do not expect it).
        error = route.error
        if error == ErrorCode.coordinator_load_in_progress:
            error = ErrorCode.rebalance_in_progress
        return SyncResult(error)
    shard = route.shard
    group = shard.groups.get(group_id)
    if group is None:
        return SyncResult(ErrorCode.unknown_member_id)
    waiter = Waiter()
    out = Outbox()
    group.sync(coordinator.clock(), out, waiter, member_id=member_id,
               group_instance_id=group_instance_id, generation_id=generation_id,
               protocol_type=protocol_type, protocol_name=protocol_name,
               assignments=assignments)
    coordinator.deliver(shard, group, out)
    result: SyncResult = await waiter.wait()
    return result


def heartbeat(
    coordinator: GroupCoordinator,
    group_id: str,
    *,
    member_id: str,
    group_instance_id: str | None,
    generation_id: int,
) -> ErrorCode:
    route = _route(coordinator, group_id, require_id=True)
    if route.shard is None:
        # While loading, answer blindly: the group is not known yet (Kafka does the same).
        return ErrorCode.none if route.error == ErrorCode.coordinator_load_in_progress else (
            route.error)
    group = route.shard.groups.get(group_id)
    if group is None:
        return ErrorCode.unknown_member_id
    error = group.heartbeat(coordinator.clock(), member_id=member_id,
                            group_instance_id=group_instance_id, generation_id=generation_id)
    coordinator.schedule(route.shard, group)
    return error


def leave_group(
    coordinator: GroupCoordinator, group_id: str, members: Sequence[tuple[str, str | None]]
) -> tuple[ErrorCode, list[ErrorCode]]:
    """(top-level error, one error per (member id, group instance id))."""
    route = _route(coordinator, group_id, require_id=True)
    if route.shard is None:
        return route.error, []
    group = route.shard.groups.get(group_id)
    if group is None:
        return ErrorCode.none, [ErrorCode.unknown_member_id] * len(members)
    if group.state == GroupState.DEAD:
        return ErrorCode.coordinator_not_available, []
    out = Outbox()
    errors = group.leave(coordinator.clock(), out, members)
    coordinator.deliver(route.shard, group, out)
    return ErrorCode.none, errors


async def commit_offsets(
    coordinator: GroupCoordinator,
    group_id: str,
    *,
    member_id: str,
    group_instance_id: str | None,
    generation_id: int,
    retention_ms: int,
    entries: Sequence[OffsetCommitEntry],
    api_version: int,
) -> list[ErrorCode]:
    """One error per entry. `retention_ms` -1 = the broker's retention (OffsetCommit
    v2-v4 may set an explicit one). Entries for unknown topics were filtered out
    by the handler."""
    n = len(entries)
    route = _route(coordinator, group_id, require_id=False)
    if route.shard is None:
        return [route.error] * n
    shard = route.shard
    now = coordinator.clock()
    group = shard.groups.get(group_id)
    if group is None:
        if generation_id >= 0:
            # v9+ says so; older versions keep the classic answer.
            return [ErrorCode.group_id_not_found if api_version >= 9
                    else ErrorCode.illegal_generation] * n
        group = shard.groups[group_id] = coordinator.new_group(group_id, now, simple=True)
    error = group.validate_offset_commit(now, member_id=member_id,
                                         group_instance_id=group_instance_id,
                                         generation_id=generation_id)
    coordinator.schedule(shard, group)
    if error != ErrorCode.none:
        return [error] * n
    errors: list[ErrorCode] = []
    commits: dict[TopicPartition, OffsetCommitValue | None] = {}
    for e in entries:
        if e.metadata is not None and len(e.metadata) > coordinator.offset_metadata_max_bytes:
            errors.append(ErrorCode.offset_metadata_too_large)
            continue
        errors.append(ErrorCode.none)
        commits[(e.topic, e.partition)] = OffsetCommitValue(
            offset=e.offset, metadata=e.metadata or "", commit_timestamp=now,
            leader_epoch=e.leader_epoch,
            expire_timestamp=now + retention_ms if retention_ms >= 0 else -1)
    if commits:
        waiter = Waiter()
        coordinator.write_offsets(shard, group_id, commits, on_done=waiter.set)
        write_error: ErrorCode = await waiter.wait()
        errors = [write_error if e == ErrorCode.none else e for e in errors]
    return errors


async def txn_commit_offsets(
    coordinator: GroupCoordinator,
    group_id: str,
    *,
    producer_id: int,
    producer_epoch: int,
    member_id: str,
    group_instance_id: str | None,
    generation_id: int,
    entries: Sequence[OffsetCommitEntry],
    verification: VerificationGuard | NotRequired | None = NOT_REQUIRED,
) -> list[ErrorCode]:
    """TxnOffsetCommit: one error per entry. The group checks are OffsetCommit's
    (KIP-447: a generation, member id or instance id must be current); the
    offsets become visible when the transaction commits. `verification` is the
    KIP-890 guard the write carries (kraft.broker.producer_state)."""
    n = len(entries)
    route = _route(coordinator, group_id, require_id=True)
    if route.shard is None:
        return [route.error] * n
    shard = route.shard
    now = coordinator.clock()
    group = shard.groups.get(group_id)
    if group is None:
        if generation_id >= 0:
            return [ErrorCode.illegal_generation] * n
        group = shard.groups[group_id] = coordinator.new_group(group_id, now, simple=True)
    error = group.validate_offset_commit(now, member_id=member_id,
                                         group_instance_id=group_instance_id,
                                         generation_id=generation_id)
    coordinator.schedule(shard, group)
    if error != ErrorCode.none:
        return [error] * n
    errors: list[ErrorCode] = []
    commits: dict[TopicPartition, OffsetCommitValue] = {}
    for e in entries:
        if e.metadata is not None and len(e.metadata) > coordinator.offset_metadata_max_bytes:
            errors.append(ErrorCode.offset_metadata_too_large)
            continue
        errors.append(ErrorCode.none)
        commits[(e.topic, e.partition)] = OffsetCommitValue(
            offset=e.offset, metadata=e.metadata or "", commit_timestamp=now,
            leader_epoch=e.leader_epoch)
    if commits:
        waiter = Waiter()
        coordinator.write_txn_offsets(shard, group_id, (producer_id, producer_epoch), commits,
                                      waiter.set, verification)
        write_error: ErrorCode = await waiter.wait()
        errors = [write_error if e == ErrorCode.none else e for e in errors]
    return errors


def unstable_partitions(
    coordinator: GroupCoordinator, group_id: str, partitions: Sequence[TopicPartition]
) -> set[TopicPartition]:
    """Partitions of `group_id` with transactional offset commits not yet decided
    (OffsetFetch require_stable answers UNSTABLE_OFFSET_COMMIT for them)."""
    route = _route(coordinator, group_id, require_id=False)
    if route.shard is None:
        return set()
    return {tp for tp in partitions
            if coordinator.has_pending_txn_offsets(route.shard, group_id, tp)}


async def fetch_offsets(
    coordinator: GroupCoordinator,
    group_id: str,
    partitions: Sequence[TopicPartition] | None,
    *,
    require_stable: bool = False,
) -> tuple[ErrorCode, list[tuple[TopicPartition, OffsetCommitValue | None]]]:
    """(group error, committed offset per partition; None = none committed).
    `partitions` None = every partition the group has offsets for.
    `require_stable` waits for commits still being replicated (Kafka 4 does
    the same instead of answering UNSTABLE_OFFSET_COMMIT)."""
    route = _route(coordinator, group_id, require_id=False)
    if route.shard is None:
        return route.error, []
    shard = route.shard
    if require_stable:
        await shard.wait_for_pending()
        if not shard.is_current:
            return ErrorCode.not_coordinator, []
    group = shard.groups.get(group_id)
    if group is None or group.state == GroupState.DEAD:
        return ErrorCode.none, [(tp, None) for tp in partitions or ()]
    wanted = sorted(group.offsets) if partitions is None else partitions
    return ErrorCode.none, [(tp, group.offsets.get(tp)) for tp in wanted]


async def delete_offsets(
    coordinator: GroupCoordinator, group_id: str, partitions: Sequence[TopicPartition]
) -> tuple[ErrorCode, list[ErrorCode]]:
    """(group error, one error per partition): Kafka 4's OffsetDelete for a
    classic group. Unknown topics were answered by the handler."""
    route = _route(coordinator, group_id, require_id=True)
    if route.shard is None:
        return route.error, []
    group = route.shard.groups.get(group_id)
    if group is None or group.state == GroupState.DEAD:
        return ErrorCode.group_id_not_found, []
    if group.state != GroupState.EMPTY and group.protocol_type != "consumer":
        return ErrorCode.non_empty_group, []
    errors = []
    doomed: dict[TopicPartition, OffsetCommitValue | None] = {}
    for tp in partitions:
        if group.is_subscribed_to(tp[0]):
            errors.append(ErrorCode.group_subscribed_to_topic)
        else:
            errors.append(ErrorCode.none)
            if tp in group.offsets:
                doomed[tp] = None
    waiter = Waiter()
    coordinator.write_offsets(route.shard, group_id, doomed, on_done=waiter.set)
    error: ErrorCode = await waiter.wait()
    return (error, []) if error != ErrorCode.none else (ErrorCode.none, errors)


def list_groups(
    coordinator: GroupCoordinator, states: Iterable[str], types: Iterable[str]
) -> tuple[ErrorCode, list[ListedGroup]]:
    """Groups of every loaded shard, filtered by state and type (case-insensitive);
    COORDINATOR_LOAD_IN_PROGRESS alongside the loaded ones while any shard loads."""
    if not coordinator.active:
        return ErrorCode.coordinator_not_available, []
    state_filter = {s.lower() for s in states}
    type_filter = {t.lower() for t in types}
    if type_filter and CLASSIC_GROUP_TYPE not in type_filter:
        groups: list[ListedGroup] = []
    else:
        groups = [
            ListedGroup(g.group_id, g.protocol_type or "", g.state.value)
            for shard in coordinator.loaded_shards() if shard.is_current
            for g in shard.groups.values()
            if g.state != GroupState.DEAD
            and (not state_filter or g.state.value.lower() in state_filter)
        ]
    loading = any(s.loading for s in coordinator.shards.values())
    return (ErrorCode.coordinator_load_in_progress if loading else ErrorCode.none), groups


def describe_group(coordinator: GroupCoordinator, group_id: str) -> tuple[ErrorCode, GroupSummary]:
    route = _route(coordinator, group_id, require_id=False)
    if route.shard is None:
        return route.error, DEAD_GROUP
    group = route.shard.groups.get(group_id)
    return ErrorCode.none, DEAD_GROUP if group is None else group.summary()


async def delete_groups(coordinator: GroupCoordinator, group_ids: Sequence[str]) -> list[ErrorCode]:
    """One error per group: only Empty groups can be deleted (NON_EMPTY_GROUP);
    their offsets and the group are tombstoned (acks=all)."""
    return [await _delete_group(coordinator, group_id) for group_id in group_ids]


async def _delete_group(coordinator: GroupCoordinator, group_id: str) -> ErrorCode:
    route = _route(coordinator, group_id, require_id=False)
    if route.shard is None:
        return route.error
    group = route.shard.groups.get(group_id)
    if group is None or group.state == GroupState.DEAD:
        return ErrorCode.group_id_not_found
    if group.state != GroupState.EMPTY:
        return ErrorCode.non_empty_group
    waiter = Waiter()
    coordinator.write_offsets(route.shard, group_id, dict.fromkeys(group.offsets),
                              tombstone_group=True, drop_group=True, on_done=waiter.set)
    error: ErrorCode = await waiter.wait()
    return error
