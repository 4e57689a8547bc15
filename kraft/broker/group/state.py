"""GroupMetadata: one classic group's data and the queries on it (Kafka's ClassicGroup).

The protocol that changes it (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
timers) is kraft.broker.group.group.ClassicGroup, a subclass; this module
holds what both the protocol and the coordinator read: the members and
their protocols, static members (group instance id -> member id), pending
KIP-394 members, the generation and selected protocol, the state with its
transition table, conversion to and from the persisted GroupMetadataValue,
and the committed offsets with their expiry rule.

States and the only legal moves (Kafka's `validPreviousStates`); anything
else raises IllegalTransition, a bug::

    Empty               <- PreparingRebalance
    PreparingRebalance  <- Empty, Stable, CompletingRebalance
    CompletingRebalance <- PreparingRebalance
    Stable              <- CompletingRebalance
    Dead                <- any (unloaded or deleted)

Pure: no I/O, time passed in (wall-clock ms). Owned by one trio loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Self

from kio.schema.errors import ErrorCode

from kraft.broker.group.records import (
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitValue,
    RecordFormatError,
    subscribed_topics,
)
from kraft.broker.group.types import (
    UNKNOWN_MEMBER_ID,
    GroupConfig,
    GroupState,
    GroupSummary,
    JoinedMember,
    JoinResult,
    Member,
    MemberSummary,
    Outbox,
    Protocols,
    SyncResult,
)

CONSUMER_PROTOCOL_TYPE = "consumer"
TopicPartition = tuple[str, int]

_E = GroupState.EMPTY
_PR = GroupState.PREPARING_REBALANCE
_CR = GroupState.COMPLETING_REBALANCE
_ST = GroupState.STABLE
_DEAD = GroupState.DEAD
VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    _E: frozenset({_PR}),
    _PR: frozenset({_E, _ST, _CR}),
    _CR: frozenset({_PR}),
    _ST: frozenset({_CR}),
    _DEAD: frozenset(GroupState),
}


class IllegalTransition(RuntimeError):
    """A move the state table forbids: a bug in the coordinator."""


class GroupMetadata:
    """One classic group's state. Not thread-safe."""

    def __init__(
        self,
        group_id: str,
        config: GroupConfig,
        now: int,
        *,
        new_uuid: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.group_id = group_id
        self.config = config
        self._new_uuid = new_uuid
        self.state = GroupState.EMPTY
        self.previous_state = GroupState.EMPTY
        self.current_state_timestamp: int | None = now
        self.generation = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}  # group instance id -> member id
        self.pending_members: dict[str, int] = {}  # KIP-394 member id -> session deadline
        self.pending_sync: set[str] = set()
        self.subscribed_topics: frozenset[str] | None = None
        self.offsets: dict[TopicPartition, OffsetCommitValue] = {}
        self.new_member_added = False
        self.join_deadline: int | None = None
        self._initial_join = False  # the join timer is Kafka's InitialDelayedJoin
        self._initial_delay_ms = 0
        self._initial_remaining_ms = 0
        self.sync_deadline: int | None = None
        self._sync_generation = -1

    @classmethod
    def from_record(
        cls, group_id: str, value: GroupMetadataValue, config: GroupConfig, now: int
    ) -> Self:
        """Rebuild a group from its last GroupMetadataValue (coordinator load):
        Stable with its members and assignments, or Empty. Every member gets a
        full session to heartbeat to this coordinator."""
        group = cls(group_id, config, now)
        group.state = _ST if value.members else _E
        group.generation = value.generation
        group.protocol_type = value.protocol_type or None
        group.protocol_name = value.protocol
        group.leader_id = value.leader
        group.current_state_timestamp = (value.current_state_timestamp
                                         if value.current_state_timestamp >= 0 else None)
        for m in value.members:
            rebalance_timeout = m.rebalance_timeout if m.rebalance_timeout >= 0 else (
                m.session_timeout)
            member = Member(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                            rebalance_timeout, m.session_timeout, value.protocol_type,
                            ((value.protocol or "", m.subscription),), m.assignment,
                            heartbeat_deadline=now + m.session_timeout)
            group.members[m.member_id] = member
            if m.group_instance_id is not None:
                group.static_members[m.group_instance_id] = m.member_id
        if value.members and group.leader_id not in group.members:
            group.leader_id = next(iter(group.members))
        group.subscribed_topics = group._compute_subscribed_topics()
        return group

    # --- queries --------------------------------------------------------------------------

    @property
    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and all(
            m.join_waiter is not None for m in self.members.values())

    def validate_member(self, member_id: str, group_instance_id: str | None) -> ErrorCode:
        """Kafka's validateMember: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID or NONE."""
        if group_instance_id is not None:
            existing = self.static_members.get(group_instance_id)
            if existing is None:
                return ErrorCode.unknown_member_id
            if existing != member_id:
                return ErrorCode.fenced_instance_id
        return ErrorCode.none if member_id in self.members else ErrorCode.unknown_member_id

    def candidate_protocols(self) -> set[str]:
        """Protocols every member supports."""
        sets = [m.protocol_names for m in self.members.values()]
        return set(frozenset.intersection(*sets)) if sets else set()

    def select_protocol(self) -> str:
        """The candidate with the most first-preference votes. Kafka leaves ties to
        hash order; we break them by vote order (the oldest member's vote first)."""
        candidates = self.candidate_protocols()
        votes: dict[str, int] = {}
        for member in self.members.values():
            name = member.vote(candidates)
            votes[name] = votes.get(name, 0) + 1
        best = max(votes.values())
        return next(name for name, n in votes.items() if n == best)

    def supports_protocols(self, protocol_type: str, protocols: Protocols) -> bool:
        """Whether a joining member fits: any non-empty type and protocol list for an
        Empty group, else the group's type and a protocol all members support."""
        if self.state == _E:
            return bool(protocol_type) and bool(protocols)
        if protocol_type != self.protocol_type:
            return False
        names = {name for name, _ in protocols}
        return any(all(name in m.protocol_names for m in self.members.values())
                   for name in names)

    def is_subscribed_to(self, topic: str) -> bool:
        return self.subscribed_topics is not None and topic in self.subscribed_topics

    def summary(self) -> GroupSummary:
        stable = self.state == _ST and self.protocol_name is not None
        protocol = self.protocol_name if stable else ""
        return GroupSummary(
            self.state.value, self.protocol_type or "", protocol or "",
            tuple(MemberSummary(
                m.member_id, m.group_instance_id, m.client_id, m.client_host,
                m.metadata(protocol) if stable and protocol else b"",
                m.assignment if stable else b"",
            ) for m in self.members.values()),
        )

    def next_deadline(self) -> int | None:
        deadlines = [d for d in (self.join_deadline, self.sync_deadline) if d is not None]
        deadlines += self.pending_members.values()
        deadlines += (m.heartbeat_deadline for m in self.members.values()
                      if m.heartbeat_deadline is not None)
        return min(deadlines, default=None)

    def metadata_value(self, assignment: dict[str, bytes]) -> GroupMetadataValue:
        """The GroupMetadataValue to persist, with `assignment` for each member."""
        protocol = self.protocol_name
        return GroupMetadataValue(
            protocol_type=self.protocol_type or "",
            generation=self.generation,
            protocol=protocol,
            leader=self.leader_id,
            current_state_timestamp=(self.current_state_timestamp
                                     if self.current_state_timestamp is not None else -1),
            members=tuple(MemberMetadata(
                m.member_id, m.group_instance_id, m.client_id, m.client_host,
                m.rebalance_timeout_ms, m.session_timeout_ms,
                m.metadata(protocol) if protocol is not None else b"",
                assignment.get(m.member_id, b""),
            ) for m in self.members.values()),
        )

    # --- shared by the protocol -----------------------------------------------------------

    def _join_result(self, member: Member, skip_assignment: bool) -> JoinResult:
        is_leader = member.member_id == self.leader_id
        members: tuple[JoinedMember, ...] = ()
        if is_leader:
            assert self.protocol_name is not None
            members = tuple(JoinedMember(m.member_id, m.group_instance_id,
                                         m.metadata(self.protocol_name))
                            for m in self.members.values())
        return JoinResult(ErrorCode.none, member.member_id, self.generation, self.protocol_type,
                          self.protocol_name, self.leader_id or "", skip_assignment, members)

    def _compute_subscribed_topics(self) -> frozenset[str] | None:
        """Topics the members subscribe to (consumer protocol only; None = unknown)."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return None
        if not self.members:
            return frozenset()
        if self.protocol_name is None:
            return None
        try:
            return frozenset().union(*(subscribed_topics(m.metadata(self.protocol_name))
                                       for m in self.members.values()))
        except (RecordFormatError, KeyError):
            return None

    def _maybe_elect_new_joined_leader(self) -> bool:
        if self.leader_id is None:
            return False
        if self.members[self.leader_id].join_waiter is not None:
            return True
        for member in self.members.values():
            if member.join_waiter is not None:
                self.leader_id = member.member_id
                return True
        return False

    # --- membership and state -------------------------------------------------------------

    def _remove(self, out: Outbox, member_id: str) -> None:
        """Drop a member; a parked request of it is answered UNKNOWN_MEMBER_ID."""
        member = self.members.pop(member_id, None)
        if member is not None:
            if member.join_waiter is not None:
                self._reply(out, member.join_waiter,
                            JoinResult(ErrorCode.unknown_member_id, UNKNOWN_MEMBER_ID))
            if member.sync_waiter is not None:
                self._reply(out, member.sync_waiter, SyncResult(ErrorCode.unknown_member_id))
            if member.group_instance_id is not None:
                self.static_members.pop(member.group_instance_id, None)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_members.pop(member_id, None)
        self._remove_pending_sync(member_id)

    def _remove_pending_sync(self, member_id: str) -> None:
        self.pending_sync.discard(member_id)
        if not self.pending_sync:
            self.sync_deadline = None

    def _transition(self, state: GroupState, now: int) -> None:
        if self.state not in VALID_PREVIOUS_STATES[state]:
            raise IllegalTransition(f"group {self.group_id}: {self.state.value} -> {state.value}")
        self.previous_state = self.state
        self.state = state
        self.current_state_timestamp = now

    def unload(self, now: int, out: Outbox) -> None:
        """The coordinator lost the group (leadership moved, or it was deleted): Dead,
        and every parked request is answered NOT_COORDINATOR so clients look again."""
        if self.state != _DEAD:
            self._transition(_DEAD, now)
        for member in self.members.values():
            if member.join_waiter is not None:
                self._reply(out, member.join_waiter,
                            JoinResult(ErrorCode.not_coordinator, member.member_id))
                member.join_waiter = None
            if member.sync_waiter is not None:
                self._reply(out, member.sync_waiter, SyncResult(ErrorCode.not_coordinator))
                member.sync_waiter = None
        self.join_deadline = self.sync_deadline = None

    @staticmethod
    def _reply(out: Outbox, waiter: Any, result: JoinResult | SyncResult) -> None:
        out.replies.append((waiter, result))

    # --- offsets --------------------------------------------------------------------------

    def expired_offsets(self, now: int, retention_ms: int) -> list[TopicPartition]:
        """Offsets past offsets.retention.minutes (Kafka 4's offsetExpirationCondition):
        for an Empty group counted from when it became Empty; for a Stable consumer
        group only topics it no longer subscribes to, from their commit; for a
        simple group (never joined) from the commit. An explicit expire timestamp
        (OffsetCommit v2-v4 retention time) wins."""
        empty_since: int | None = None
        if self.protocol_type is None:
            pass
        elif self.state == _E:
            empty_since = self.current_state_timestamp
        elif not (self.protocol_type == CONSUMER_PROTOCOL_TYPE and self.state == _ST
                  and self.subscribed_topics is not None):
            return []
        expired = []
        for tp, value in self.offsets.items():
            if self.state == _ST and self.is_subscribed_to(tp[0]):
                continue
            if value.expire_timestamp >= 0:
                if now >= value.expire_timestamp:
                    expired.append(tp)
            elif now - (value.commit_timestamp if empty_since is None else empty_since) >= (
                    retention_ms):
                expired.append(tp)
        return expired
