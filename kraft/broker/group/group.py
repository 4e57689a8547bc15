"""ClassicGroup: one consumer group under the classic rebalance protocol, no I/O.

Kafka's `ClassicGroup` plus the classic parts of its `GroupMetadataManager`,
as a pure state machine: every step takes the time (`now`, wall-clock ms)
and an `Outbox` (kraft.broker.group.types) that collects the answers to
parked requests and the writes the coordinator must make. Timers are
deadlines the caller polls: `next_deadline()` / `poll(now, out)`.

States and their legal moves: kraft.broker.group.state.

The protocol, in short:
- A rebalance (PreparingRebalance) collects a JoinGroup from every member.
  It starts when a member joins or leaves, a member changes its protocols,
  or the leader rejoins. From Empty the first rebalance waits
  group.initial.rebalance.delay.ms, extended once per delay while members keep
  arriving, up to the rebalance timeout; otherwise it completes as soon as
  every member and every pending (KIP-394) member has joined, or at the
  rebalance timeout, when dynamic members that did not rejoin are removed.
- Completing it bumps the generation, selects the protocol every member
  supports with the most first-preference votes, and answers every parked
  JoinGroup; only the leader's answer lists the members.
- SyncGroups park in CompletingRebalance until the leader's assignment is
  stored (acks=all); then all get their assignment and the group is Stable.
  Members that do not SyncGroup within the rebalance timeout are removed.
- Sessions: a member that neither heartbeats nor has a parked request for
  session.timeout.ms is removed; a new member whose first JoinGroup is still
  parked after 5 minutes too. A rebalance makes the others rejoin:
  Heartbeat answers REBALANCE_IN_PROGRESS.
- Static members (group.instance.id, KIP-345) keep their place across
  restarts: a JoinGroup with an unknown member id but a known instance id
  replaces the old member id (FENCED_INSTANCE_ID for whoever still uses it),
  without a rebalance while the group is Stable and the selected protocol
  would not change. They are never removed for not rejoining.

The group's data, its queries and committed offsets: kraft.broker.group.state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.group.state import VALID_PREVIOUS_STATES, GroupMetadata, IllegalTransition
from kraft.broker.group.types import (
    UNKNOWN_MEMBER_ID,
    GroupState,
    JoinRequest,
    JoinResult,
    Member,
    Outbox,
    StoreGroup,
    StorePurpose,
    SyncResult,
)

_E = GroupState.EMPTY
_PR = GroupState.PREPARING_REBALANCE
_CR = GroupState.COMPLETING_REBALANCE
_ST = GroupState.STABLE
_DEAD = GroupState.DEAD


class ClassicGroup(GroupMetadata):
    """A classic group and its rebalance protocol. Not thread-safe."""

    # --- JoinGroup ------------------------------------------------------------------------

    def join(self, now: int, out: Outbox, waiter: Any, req: JoinRequest) -> None:
        """Handle a JoinGroup; the answer (now or later) is `(waiter, JoinResult)`."""
        if not self._accepts_joining_member(req.member_id):
            # Kafka's classicGroupJoinToClassicGroup: the member is dropped and refused.
            if req.member_id in self.members or req.member_id in self.pending_members:
                self._remove(out, req.member_id)
                self._maybe_complete_join(now, out)  # the others may all be waiting
            return self._reply(out, waiter, JoinResult(ErrorCode.group_max_size_reached,
                                                       UNKNOWN_MEMBER_ID))
        if req.member_id == UNKNOWN_MEMBER_ID:
            self._join_new_member(now, out, waiter, req)
        else:
            self._join_existing_member(now, out, waiter, req)

    def _accepts_joining_member(self, member_id: str) -> bool:
        """Kafka's acceptJoiningMember (group.max.size): an Empty or Dead group takes
        anyone; while preparing a rebalance, a member already waiting in JoinGroup, or
        anyone while fewer than the maximum wait (so the last to rejoin an oversized
        group are the ones left out); otherwise a member, or anyone while the group
        has fewer members than the maximum."""
        if self.state in (_E, _DEAD):
            return True
        member = self.members.get(member_id)
        if self.state == _PR:
            waiting = sum(1 for m in self.members.values() if m.join_waiter is not None)
            return ((member is not None and member.join_waiter is not None)
                    or waiting < self.config.max_size)
        return member is not None or len(self.members) < self.config.max_size

    def rebalance_if_over_capacity(self, now: int, out: Outbox) -> bool:
        """A freshly loaded group with more members than group.max.size (lowered since)
        starts a rebalance, as Kafka's coordinator does on load; True if it did."""
        if len(self.members) <= self.config.max_size or self.state != _ST:
            return False
        self._prepare_rebalance(now, out)
        return True

    def _join_new_member(self, now: int, out: Outbox, waiter: Any, req: JoinRequest) -> None:
        if self.state == _DEAD:
            return self._reply(out, waiter, JoinResult(ErrorCode.coordinator_not_available,
                                                       UNKNOWN_MEMBER_ID))
        if not self.supports_protocols(req.protocol_type, req.protocols):
            return self._reply(out, waiter, JoinResult(ErrorCode.inconsistent_group_protocol,
                                                       UNKNOWN_MEMBER_ID))
        prefix = req.group_instance_id if req.group_instance_id is not None else req.client_id
        new_member_id = f"{prefix}-{self._new_uuid()}"
        if req.group_instance_id is not None:
            old_member_id = self.static_members.get(req.group_instance_id)
            if old_member_id is not None:
                return self._replace_static_member(now, out, waiter, req, old_member_id,
                                                   new_member_id)
        elif req.require_known_member_id:
            self.pending_members[new_member_id] = now + req.session_timeout_ms
            return self._reply(out, waiter, JoinResult(ErrorCode.member_id_required,
                                                       new_member_id))
        self._add_member_and_rebalance(now, out, waiter, req, new_member_id)

    def _join_existing_member(
        self, now: int, out: Outbox, waiter: Any, req: JoinRequest
    ) -> None:
        member_id = req.member_id
        if self.state == _DEAD:
            return self._reply(out, waiter, JoinResult(ErrorCode.coordinator_not_available,
                                                       member_id))
        if not self.supports_protocols(req.protocol_type, req.protocols):
            return self._reply(out, waiter, JoinResult(ErrorCode.inconsistent_group_protocol,
                                                       member_id))
        if member_id in self.pending_members:
            if req.group_instance_id is not None:
                # Pending members are dynamic; Kafka treats this as impossible.
                return self._reply(out, waiter, JoinResult(ErrorCode.unknown_member_id,
                                                           member_id))
            return self._add_member_and_rebalance(now, out, waiter, req, member_id)
        error = self.validate_member(member_id, req.group_instance_id)
        if error != ErrorCode.none:
            return self._reply(out, waiter, JoinResult(error, member_id))
        member = self.members[member_id]
        if self.state == _PR:
            self._update_member(member, req, waiter, out)
            self._maybe_prepare_rebalance_or_complete_join(now, out)
        elif self.state == _CR:
            if member.protocols == req.protocols:
                # A retry of a JoinGroup whose answer was lost: answer it again.
                self._reply(out, waiter, self._join_result(member, skip_assignment=False))
            else:
                self._update_member(member, req, waiter, out)
                self._maybe_prepare_rebalance_or_complete_join(now, out)
        elif self.state == _ST:
            if member_id == self.leader_id or member.protocols != req.protocols:
                # The leader rejoining asks for a rebalance (e.g. its topics changed).
                self._update_member(member, req, waiter, out)
                self._maybe_prepare_rebalance_or_complete_join(now, out)
            else:
                self._reply(out, waiter, JoinResult(
                    ErrorCode.none, member_id, self.generation, self.protocol_type,
                    self.protocol_name, self.leader_id or ""))
        else:  # Empty with a member cannot happen; tell the member to start over.
            self._reply(out, waiter, JoinResult(ErrorCode.unknown_member_id, member_id))

    def _add_member_and_rebalance(
        self, now: int, out: Outbox, waiter: Any, req: JoinRequest, member_id: str
    ) -> None:
        member = Member(member_id, req.group_instance_id, req.client_id, req.client_host,
                        req.rebalance_timeout_ms, req.session_timeout_ms, req.protocol_type,
                        req.protocols, join_waiter=waiter, is_new=True,
                        heartbeat_deadline=now + self.config.new_member_join_timeout_ms)
        if self.state == _PR and self.previous_state == _E:
            self.new_member_added = True
        if not self.members:
            self.protocol_type = req.protocol_type
        if self.leader_id is None:
            self.leader_id = member_id
        self.members[member_id] = member
        if req.group_instance_id is not None:
            self.static_members[req.group_instance_id] = member_id
        self.pending_members.pop(member_id, None)
        self._maybe_prepare_rebalance_or_complete_join(now, out)

    def _update_member(self, member: Member, req: JoinRequest, waiter: Any, out: Outbox) -> None:
        if member.join_waiter is not None and member.join_waiter is not waiter:
            # A newer JoinGroup from the same member (its client gave up on the old
            # one): Kafka drops the old callback; we must answer it, and say retry.
            self._reply(out, member.join_waiter,
                        JoinResult(ErrorCode.rebalance_in_progress, member.member_id))
        member.protocols = req.protocols
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        member.join_waiter = waiter

    def _replace_static_member(
        self, now: int, out: Outbox, waiter: Any, req: JoinRequest, old_id: str, new_id: str
    ) -> None:
        current_leader = self.leader_id
        member = self._rename_member(out, req.group_instance_id, old_id, new_id)
        member.heartbeat_deadline = now + member.session_timeout_ms
        old = (member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms)
        self._update_member(member, req, waiter, out)
        if self.state == _ST:
            if self.protocol_name == self.select_protocol():
                assignment = {m.member_id: m.assignment for m in self.members.values()}
                out.stores.append(StoreGroup(
                    self.group_id, self.metadata_value(assignment), StorePurpose.STATIC_REPLACE,
                    self.generation,
                    (req.group_instance_id, old_id, new_id, old, current_leader,
                     req.supports_skip_assignment)))
            else:
                self._maybe_prepare_rebalance_or_complete_join(now, out)
        elif self.state == _CR:
            # The leader may already be assigning to the old member id.
            self._prepare_rebalance(now, out)
        elif self.state == _PR:
            self._maybe_complete_join(now, out)
        else:
            raise IllegalTransition(f"static member joined group {self.group_id} in {self.state}")

    def _rename_member(
        self, out: Outbox, instance_id: str | None, old_id: str, new_id: str
    ) -> Member:
        """Kafka's replaceStaticMember: whoever waits as `old_id` is fenced."""
        member = self.members.pop(old_id)
        if member.join_waiter is not None:
            self._reply(out, member.join_waiter,
                        JoinResult(ErrorCode.fenced_instance_id, old_id))
            member.join_waiter = None
        if member.sync_waiter is not None:
            self._reply(out, member.sync_waiter, SyncResult(ErrorCode.fenced_instance_id))
            member.sync_waiter = None
        member.member_id = new_id
        self.members[new_id] = member
        if self.leader_id == old_id:
            self.leader_id = new_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_id)
        assert instance_id is not None
        self.static_members[instance_id] = new_id
        return member

    # --- rebalance ------------------------------------------------------------------------

    def _maybe_prepare_rebalance_or_complete_join(self, now: int, out: Outbox) -> None:
        if self.state in VALID_PREVIOUS_STATES[_PR]:
            self._prepare_rebalance(now, out)
        else:
            self._maybe_complete_join(now, out)

    def _prepare_rebalance(self, now: int, out: Outbox) -> None:
        if self.state == _CR:
            self._reset_and_propagate_assignment_error(now, out, ErrorCode.rebalance_in_progress)
        self.sync_deadline = None
        self.pending_sync.clear()
        initial = self.state == _E
        self._transition(_PR, now)
        if initial:
            self.new_member_added = False
            # Kafka's InitialDelayedJoin: wait for more members before the first rebalance.
            delay = self.config.initial_rebalance_delay_ms
            self._initial_join = True
            self._initial_delay_ms = delay
            self._initial_remaining_ms = max(self.rebalance_timeout_ms - delay, 0)
            self.join_deadline = now + delay
        else:
            self._initial_join = False
            if self.has_all_members_joined():
                self._complete_join(now, out)
            else:
                self.join_deadline = now + self.rebalance_timeout_ms

    def _maybe_complete_join(self, now: int, out: Outbox) -> None:
        """Kafka's DelayedJoin.tryComplete; the initial delay is never cut short."""
        if self.state == _PR and not self._initial_join and self.has_all_members_joined():
            self._complete_join(now, out)

    def _on_join_deadline(self, now: int, out: Outbox) -> None:
        if self._initial_join and self.new_member_added and self._initial_remaining_ms > 0:
            self.new_member_added = False
            delay = min(self.config.initial_rebalance_delay_ms, self._initial_remaining_ms)
            self._initial_remaining_ms = max(self._initial_remaining_ms - self._initial_delay_ms, 0)
            self._initial_delay_ms = delay
            self.join_deadline = now + delay
        else:
            self._complete_join(now, out)

    def _complete_join(self, now: int, out: Outbox) -> None:
        self.join_deadline = None
        self._initial_join = False
        for member in list(self.members.values()):
            if member.join_waiter is None and member.group_instance_id is None:
                self._remove(out, member.member_id)
        if self.state == _DEAD:
            return
        if not self._maybe_elect_new_joined_leader() and self.members:
            # Nobody rejoined: wait another rebalance timeout for sessions to expire
            # (at least 1 ms, so a zero timeout cannot spin within one poll).
            self.join_deadline = now + max(self.rebalance_timeout_ms, 1)
            return
        self.generation += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self._compute_subscribed_topics()
            self._transition(_CR, now)
        else:
            self.protocol_name = None
            self.subscribed_topics = self._compute_subscribed_topics()
            self._transition(_E, now)
        self.pending_sync.clear()
        if self.state == _E:
            out.stores.append(StoreGroup(self.group_id, self.metadata_value({}),
                                         StorePurpose.EMPTY, self.generation))
            return
        for member in self.members.values():
            if member.join_waiter is not None:
                self._reply(out, member.join_waiter, self._join_result(member, False))
                member.join_waiter = None
            member.heartbeat_deadline = now + member.session_timeout_ms
            member.is_new = False
            self.pending_sync.add(member.member_id)
        self.sync_deadline = now + self.rebalance_timeout_ms
        self._sync_generation = self.generation

    # --- SyncGroup ------------------------------------------------------------------------

    def sync(
        self,
        now: int,
        out: Outbox,
        waiter: Any,
        *,
        member_id: str,
        group_instance_id: str | None,
        generation_id: int,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
    ) -> None:
        """Handle a SyncGroup; the answer (now or later) is `(waiter, SyncResult)`."""
        if self.state == _DEAD:
            return self._reply(out, waiter, SyncResult(ErrorCode.coordinator_not_available))
        error = self.validate_member(member_id, group_instance_id)
        if error == ErrorCode.none and generation_id != self.generation:
            error = ErrorCode.illegal_generation
        if error == ErrorCode.none and (
            (protocol_type is not None and protocol_type != self.protocol_type)
            or (protocol_name is not None and protocol_name != self.protocol_name)
        ):
            error = ErrorCode.inconsistent_group_protocol
        if error != ErrorCode.none:
            return self._reply(out, waiter, SyncResult(error))
        member = self.members[member_id]
        member.heartbeat_deadline = now + member.session_timeout_ms
        if self.state == _PR:
            return self._reply(out, waiter, SyncResult(ErrorCode.rebalance_in_progress))
        if self.state == _E:
            return self._reply(out, waiter, SyncResult(ErrorCode.unknown_member_id))
        self._remove_pending_sync(member_id)
        if self.state == _ST:
            return self._reply(out, waiter, SyncResult(
                ErrorCode.none, self.protocol_type, self.protocol_name, member.assignment))
        if member.sync_waiter is not None and member.sync_waiter is not waiter:
            self._reply(out, member.sync_waiter, SyncResult(ErrorCode.rebalance_in_progress))
        member.sync_waiter = waiter
        if member_id == self.leader_id:
            # Members the leader left out get an empty assignment, as in Kafka.
            assignment = {m: assignments.get(m, b"") for m in self.members}
            out.stores.append(StoreGroup(self.group_id, self.metadata_value(assignment),
                                         StorePurpose.SYNC, self.generation, assignment))

    def store_completed(self, now: int, out: Outbox, store: StoreGroup, error: ErrorCode) -> None:
        """The outcome of a StoreGroup write, `error` already mapped to a group error
        (NONE, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, ...)."""
        if store.purpose == StorePurpose.SYNC:
            # Another member may have joined meanwhile; then this write is moot.
            if self.state != _CR or store.generation != self.generation:
                return
            if error != ErrorCode.none:
                self._reset_and_propagate_assignment_error(now, out, error)
                self._maybe_prepare_rebalance_or_complete_join(now, out)
                return
            for member in self.members.values():
                member.assignment = store.context.get(member.member_id, b"")
            self._propagate_assignment(now, out, ErrorCode.none)
            self._transition(_ST, now)
        elif store.purpose == StorePurpose.STATIC_REPLACE:
            self._static_replace_completed(now, out, store, error)

    def _static_replace_completed(
        self, now: int, out: Outbox, store: StoreGroup, error: ErrorCode
    ) -> None:
        instance_id, old_id, new_id, old, current_leader, skip = store.context
        member = self.members.get(new_id)
        if member is None or member.join_waiter is None or self.state != _ST:
            return  # removed (its waiter was answered) or a rebalance answers it
        waiter, member.join_waiter = member.join_waiter, None
        if error != ErrorCode.none:
            member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms = old
            member = self._rename_member(out, instance_id, new_id, old_id)
            member.heartbeat_deadline = now + member.session_timeout_ms
            self._reply(out, waiter, JoinResult(
                error, UNKNOWN_MEMBER_ID, self.generation, self.protocol_type,
                self.protocol_name, current_leader or ""))
        elif skip:
            # JoinGroup v9+: the leader learns it leads but keeps its assignment (KIP-814).
            result = self._join_result(member, skip_assignment=new_id == self.leader_id)
            self._reply(out, waiter, result)
        else:
            # Older clients: name the old leader, so a new leader id does not make
            # this member run an assignment that a Stable group would never send.
            self._reply(out, waiter, JoinResult(
                ErrorCode.none, new_id, self.generation, self.protocol_type,
                self.protocol_name, current_leader or ""))

    def _reset_and_propagate_assignment_error(
        self, now: int, out: Outbox, error: ErrorCode
    ) -> None:
        if self.state != _CR:
            raise IllegalTransition(f"group {self.group_id}: resetting assignment in {self.state}")
        for member in self.members.values():
            member.assignment = b""
        self._propagate_assignment(now, out, error)

    def _propagate_assignment(self, now: int, out: Outbox, error: ErrorCode) -> None:
        ok = error == ErrorCode.none
        for member in self.members.values():
            if member.sync_waiter is None:
                continue
            self._reply(out, member.sync_waiter, SyncResult(
                error, self.protocol_type if ok else None, self.protocol_name if ok else None,
                member.assignment))
            member.sync_waiter = None
            # Its session may have lapsed while the request was parked: start a new one.
            member.heartbeat_deadline = now + member.session_timeout_ms

    # --- Heartbeat, LeaveGroup, OffsetCommit checks ---------------------------------------

    def heartbeat(
        self, now: int, *, member_id: str, group_instance_id: str | None, generation_id: int
    ) -> ErrorCode:
        if self.state == _DEAD:
            return ErrorCode.coordinator_not_available
        error = self.validate_member(member_id, group_instance_id)
        if error != ErrorCode.none:
            return error
        if generation_id != self.generation:
            return ErrorCode.illegal_generation
        if self.state == _E:
            return ErrorCode.unknown_member_id
        member = self.members[member_id]
        member.heartbeat_deadline = now + member.session_timeout_ms
        return ErrorCode.rebalance_in_progress if self.state == _PR else ErrorCode.none

    def leave(
        self, now: int, out: Outbox, leaving: Iterable[tuple[str, str | None]]
    ) -> list[ErrorCode]:
        """Remove members (member id, group instance id); one error per member. An
        empty member id with an instance id removes that static member (admin use).
        The caller answers COORDINATOR_NOT_AVAILABLE for a Dead group first."""
        errors = []
        removed = False
        for member_id, instance_id in leaving:
            if member_id == UNKNOWN_MEMBER_ID:
                current = self.static_members.get(instance_id) if instance_id else None
                if current is None:
                    errors.append(ErrorCode.unknown_member_id)
                    continue
                member_id = current
            elif member_id in self.pending_members:
                del self.pending_members[member_id]
                errors.append(ErrorCode.none)
                removed = True
                continue
            else:
                error = self.validate_member(member_id, instance_id)
                if error != ErrorCode.none:
                    errors.append(error)
                    continue
            self._remove(out, member_id)
            errors.append(ErrorCode.none)
            removed = True
        if removed:
            if self.state in (_ST, _CR):
                self._maybe_prepare_rebalance_or_complete_join(now, out)
            elif self.state == _PR:
                self._maybe_complete_join(now, out)
        return errors

    def validate_offset_commit(
        self, now: int, *, member_id: str, group_instance_id: str | None, generation_id: int
    ) -> ErrorCode:
        """Kafka 4's ClassicGroup.validateOffsetCommit; a valid commit from a member
        also counts as its heartbeat while Stable or PreparingRebalance."""
        if self.state == _DEAD:
            return ErrorCode.coordinator_not_available
        if generation_id < 0 and self.state == _E:
            return ErrorCode.none  # a simple consumer, or the admin client
        if generation_id >= 0 or member_id or group_instance_id is not None:
            error = self.validate_member(member_id, group_instance_id)
            if error != ErrorCode.none:
                return error
            if generation_id != self.generation:
                return ErrorCode.illegal_generation
        elif self.state != _E:
            return ErrorCode.unknown_member_id
        if self.state == _CR:
            return ErrorCode.rebalance_in_progress
        member = self.members.get(member_id)
        if member is not None:
            member.heartbeat_deadline = now + member.session_timeout_ms
        return ErrorCode.none

    # --- timers ---------------------------------------------------------------------------

    def poll(self, now: int, out: Outbox) -> None:
        """Fire every timer due at `now` (join, sync, sessions, pending members)."""
        while True:
            if self.state == _DEAD:
                return
            if self.join_deadline is not None and now >= self.join_deadline:
                self.join_deadline = None
                self._on_join_deadline(now, out)
            elif self.sync_deadline is not None and now >= self.sync_deadline:
                self.sync_deadline = None
                self._on_sync_deadline(now, out)
            elif (expired := self._first_expired_pending(now)) is not None:
                del self.pending_members[expired]
                self._maybe_complete_join(now, out)
            elif (member := self._first_expired_session(now)) is not None:
                self._on_session_expired(now, out, member)
            else:
                return

    def _first_expired_pending(self, now: int) -> str | None:
        return next((m for m, d in self.pending_members.items() if now >= d), None)

    def _first_expired_session(self, now: int) -> Member | None:
        return next((m for m in self.members.values()
                     if m.heartbeat_deadline is not None and now >= m.heartbeat_deadline), None)

    def _on_session_expired(self, now: int, out: Outbox, member: Member) -> None:
        member.heartbeat_deadline = None
        if not member.is_new and (member.join_waiter is not None or member.sync_waiter is not None):
            return  # a parked request keeps it alive; completing it restarts the session
        self._remove(out, member.member_id)
        if self.state in (_ST, _CR):
            self._maybe_prepare_rebalance_or_complete_join(now, out)
        elif self.state == _PR:
            self._maybe_complete_join(now, out)

    def _on_sync_deadline(self, now: int, out: Outbox) -> None:
        if self._sync_generation != self.generation or self.state not in (_CR, _ST):
            return
        if self.pending_sync:
            for member_id in list(self.pending_sync):
                self._remove(out, member_id)
            self._prepare_rebalance(now, out)
