"""The classic group state machine (kraft.broker.group.group / .state): every
error path of JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the offset-commit
checks, generations, static members, and the timers with time passed in."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from kraft.broker.group.group import ClassicGroup
from kraft.broker.group.records import GroupMetadataValue, MemberMetadata, OffsetCommitValue
from kraft.broker.group.state import IllegalTransition
from kraft.broker.group.types import GroupConfig, GroupState, Outbox, StorePurpose
from tests.broker.group_harness import RANGE, Harness

E = ErrorCode
S = GroupState


# --- JoinGroup ----------------------------------------------------------------------------


def test_first_join_requires_a_member_id_then_completes_after_the_initial_delay() -> None:
    """KIP-394: MEMBER_ID_REQUIRED with a client-id-prefixed id; the rejoin parks in
    PreparingRebalance until group.initial.rebalance.delay.ms passes."""
    h = Harness(delay_ms=3000)
    first = h.join(client="app", known_id_required=True)
    result = h.join_result(first)
    assert result.error == E.member_id_required
    assert result.member_id.startswith("app-")
    assert h.group.pending_members and h.group.state == S.EMPTY
    token = h.join(result.member_id, client="app")
    assert h.group.state == S.PREPARING_REBALANCE and h.result(token) is None
    h.advance(2999)
    assert h.result(token) is None
    h.advance(1)
    joined = h.join_result(token)
    assert (joined.error, joined.generation_id, joined.leader) == (E.none, 1, result.member_id)
    assert joined.protocol_name == "range" and joined.protocol_type == "consumer"
    assert [m.member_id for m in joined.members] == [result.member_id]
    assert h.group.state == S.COMPLETING_REBALANCE


def test_initial_delay_is_extended_while_members_keep_arriving() -> None:
    """Kafka's InitialDelayedJoin: each delay in which a new member arrived is
    followed by another, bounded by the rebalance timeout."""
    h = Harness(delay_ms=1000)
    a = h.join(client="a", rebalance_ms=2500)
    h.advance(500)
    b = h.join(client="b", rebalance_ms=2500)
    h.advance(500)  # first delay ends: b arrived during it, so wait another delay
    assert h.result(a) is None and h.result(b) is None
    h.advance(1000)
    assert h.join_result(a).error == E.none and h.join_result(b).error == E.none
    assert h.group.generation == 1 and len(h.group.members) == 2


def test_join_with_an_unknown_member_id_is_unknown_member() -> None:
    """A made-up member id is UNKNOWN_MEMBER_ID."""
    h = Harness()
    h.stable_group(1)
    assert h.join_result(h.join("nobody")).error == E.unknown_member_id


@pytest.mark.parametrize("protocol_type, protocols", [
    ("connect", RANGE), ("consumer", (("roundrobin", b""),)),
])
def test_inconsistent_protocols_are_refused(protocol_type: str, protocols: tuple) -> None:
    """Another protocol type, or no protocol in common with every member, is
    INCONSISTENT_GROUP_PROTOCOL."""
    h = Harness()
    h.stable_group(2)
    token = h.join(protocol_type=protocol_type, protocols=protocols)
    assert h.join_result(token).error == E.inconsistent_group_protocol
    assert h.group.state == S.STABLE


def test_empty_protocol_list_cannot_start_a_group() -> None:
    """An Empty group needs a protocol type and at least one protocol."""
    h = Harness()
    assert h.join_result(h.join(protocols=())).error == E.inconsistent_group_protocol
    assert h.join_result(h.join(protocol_type="")).error == E.inconsistent_group_protocol


def test_a_new_member_rebalances_a_stable_group_and_everyone_rejoins() -> None:
    """A join in Stable starts a rebalance: heartbeats say REBALANCE_IN_PROGRESS,
    the join completes once every member rejoined, with generation + 1; only the
    leader's answer lists the members."""
    h = Harness()
    a, b = h.stable_group(2)
    c, token_c = h.new_member(client="c2")
    assert h.group.state == S.PREPARING_REBALANCE
    assert h.heartbeat(a) == E.rebalance_in_progress
    token_a = h.join(a)
    assert h.result(token_c) is None
    token_b = h.join(b)
    results = {m: h.join_result(t) for m, t in ((a, token_a), (b, token_b), (c, token_c))}
    assert {r.generation_id for r in results.values()} == {2}
    assert results[a].leader == a
    assert {m.member_id for m in results[a].members} == {a, b, c}
    assert results[b].members == () and results[c].members == ()


def test_a_follower_rejoining_a_stable_group_unchanged_gets_the_current_generation() -> None:
    """A follower whose protocols did not change gets the current generation back
    without a rebalance; the leader rejoining forces one."""
    h = Harness()
    a, b = h.stable_group(2)
    result = h.join_result(h.join(b))
    assert (result.error, result.generation_id, result.leader) == (E.none, 1, a)
    assert h.group.state == S.STABLE
    h.join(a)
    assert h.group.state == S.PREPARING_REBALANCE


def test_rejoin_with_changed_protocols_rebalances() -> None:
    """A member whose subscription (metadata) changed triggers a rebalance."""
    h = Harness()
    _, b = h.stable_group(2)
    h.join(b, protocols=(("range", b"new-subscription"),))
    assert h.group.state == S.PREPARING_REBALANCE


def test_duplicate_join_in_completing_rebalance_gets_the_same_answer() -> None:
    """A retried JoinGroup with unchanged metadata after the join completed is
    answered with the current generation (the leader's with the members)."""
    h = Harness()
    a, token = h.new_member()
    h.advance(0)
    assert h.group.state == S.COMPLETING_REBALANCE
    again = h.join_result(h.join(a))
    assert again == h.join_result(token)


def test_a_superseded_join_is_answered() -> None:
    """A second JoinGroup of a member while its first is parked answers the first
    (REBALANCE_IN_PROGRESS), so no request is left hanging."""
    h = Harness(delay_ms=1000)
    a, first = h.new_member()
    second = h.join(a)
    assert h.join_result(first).error == E.rebalance_in_progress
    h.advance(1000)
    assert h.join_result(second).error == E.none


def test_members_that_do_not_rejoin_are_removed_at_the_rebalance_timeout() -> None:
    """Dynamic members that do not rejoin within the rebalance timeout leave the group."""
    h = Harness()
    a, b = h.stable_group(2, rebalance_ms=5000)
    token = h.join(a, rebalance_ms=5000)
    h.advance(4999)
    assert h.result(token) is None
    h.advance(1)
    result = h.join_result(token)
    assert result.error == E.none and result.generation_id == 2
    assert set(h.group.members) == {a}
    assert h.heartbeat(b) == E.unknown_member_id


def test_a_new_leader_is_elected_when_the_leader_does_not_rejoin() -> None:
    """If the leader is not among the rejoined members, one of them leads."""
    h = Harness()
    a, b = h.stable_group(2, rebalance_ms=5000)
    token = h.join(b, protocols=(("range", b"changed"),), rebalance_ms=5000)
    h.advance(5000)
    assert h.join_result(token).leader == b
    assert h.group.leader_id == b and a not in h.group.members


# --- SyncGroup ----------------------------------------------------------------------------


def test_sync_delivers_the_leaders_assignment_after_it_is_stored() -> None:
    """Followers' SyncGroups park; the leader's asks for a StoreGroup; once stored,
    each member gets its own assignment (empty if the leader left it out)."""
    h = Harness()
    a, _ = h.new_member(client="a")
    b, _ = h.new_member(client="b")
    c, _ = h.new_member(client="c")
    h.advance(0)
    follower_b = h.sync(b)
    follower_c = h.sync(c)
    assert h.result(follower_b) is None
    leader = h.sync(a, assignments={a: b"pa", b: b"pb", "stranger": b"x"})
    assert len(h.stores) == 1 and h.stores[0].purpose == StorePurpose.SYNC
    stored = h.stores[0].value
    assert [m.assignment for m in stored.members] == [b"pa", b"pb", b""]
    assert h.result(leader) is None and h.group.state == S.COMPLETING_REBALANCE
    h.complete_stores()
    assert h.group.state == S.STABLE
    assert h.sync_result(leader).assignment == b"pa"
    assert h.sync_result(follower_b).assignment == b"pb"
    assert h.sync_result(follower_c) .assignment == b""
    assert h.sync_result(follower_b).protocol_name == "range"
    # Once Stable, a SyncGroup returns the current assignment at once.
    assert h.sync_result(h.sync(b)).assignment == b"pb"


def test_a_failed_store_fails_the_syncs_and_rebalances() -> None:
    """If the assignment cannot be written, every parked SyncGroup gets the error
    and the group rebalances."""
    h = Harness()
    a, b = h.stable_group(2)
    h.join(a)
    h.join(b)
    follower = h.sync(b)
    leader = h.sync(a, assignments={a: b"1", b: b"2"})
    h.complete_stores(E.coordinator_not_available)
    assert h.sync_result(leader).error == E.coordinator_not_available
    assert h.sync_result(follower).error == E.coordinator_not_available
    assert h.sync_result(follower).assignment == b""
    assert h.group.state == S.PREPARING_REBALANCE


def test_a_store_completed_after_a_new_rebalance_is_ignored() -> None:
    """A write that completes after the group moved on does not make it Stable."""
    h = Harness()
    a, b = h.stable_group(2)
    h.join(a)
    h.join(b)
    h.sync(a, assignments={a: b"1", b: b"2"})
    h.new_member(client="late")
    h.complete_stores()
    assert h.group.state == S.PREPARING_REBALANCE


@pytest.mark.parametrize("case, error", [
    ("unknown", E.unknown_member_id), ("generation", E.illegal_generation),
    ("type", E.inconsistent_group_protocol), ("name", E.inconsistent_group_protocol),
])
def test_sync_errors(case: str, error: ErrorCode) -> None:
    """SyncGroup: unknown member, wrong generation, wrong protocol type or name."""
    h = Harness()
    a, _ = h.stable_group(2)
    token = {
        "unknown": lambda: h.sync("x"),
        "generation": lambda: h.sync(a, generation=7),
        "type": lambda: h.sync(a, protocol_type="connect"),
        "name": lambda: h.sync(a, protocol_name="roundrobin"),
    }[case]()
    assert h.sync_result(token).error == error


def test_sync_while_preparing_rebalance_is_rebalance_in_progress() -> None:
    """A SyncGroup for the old generation during a rebalance says rejoin."""
    h = Harness()
    a, b = h.stable_group(2)
    h.join(a)
    assert h.sync_result(h.sync(b)).error == E.rebalance_in_progress


def test_members_that_never_sync_are_removed_after_the_rebalance_timeout() -> None:
    """Kafka's pending-sync expiry: members without a SyncGroup within the rebalance
    timeout are removed and the group rebalances."""
    h = Harness()
    a, _ = h.new_member(client="a", rebalance_ms=4000)
    b, _ = h.new_member(client="b", rebalance_ms=4000)
    h.advance(0)
    h.sync(a, assignments={a: b"1", b: b"2"})
    h.complete_stores()
    assert h.group.state == S.STABLE
    h.advance(4000)
    assert b not in h.group.members
    assert h.group.state == S.PREPARING_REBALANCE


# --- Heartbeat and sessions -----------------------------------------------------------------


def test_heartbeat_errors() -> None:
    """Heartbeat: NONE when Stable, ILLEGAL_GENERATION for an old generation,
    UNKNOWN_MEMBER_ID for a stranger, FENCED_INSTANCE_ID for a replaced static id."""
    h = Harness()
    a, _ = h.stable_group(2)
    assert h.heartbeat(a) == E.none
    assert h.heartbeat(a, generation=0) == E.illegal_generation
    assert h.heartbeat("stranger") == E.unknown_member_id
    assert h.heartbeat(a, instance="not-registered") == E.unknown_member_id


def test_heartbeat_while_completing_rebalance_is_fine() -> None:
    """Between JoinGroup and SyncGroup heartbeats are answered NONE."""
    h = Harness()
    a, _ = h.new_member()
    h.advance(0)
    assert h.group.state == S.COMPLETING_REBALANCE
    assert h.heartbeat(a) == E.none


def test_heartbeat_in_an_empty_group_is_unknown_member() -> None:
    """Once the group is Empty nobody can heartbeat."""
    h = Harness()
    (a,) = h.stable_group(1)
    gen = h.group.generation
    h.leave((a, None))
    h.advance(0)
    assert h.group.state == S.EMPTY and h.group.generation == gen + 1
    assert h.heartbeat(a, generation=h.group.generation) == E.unknown_member_id


def test_a_silent_member_is_removed_after_its_session_timeout() -> None:
    """No heartbeat for session.timeout.ms removes the member and rebalances;
    heartbeats keep the other alive."""
    h = Harness()
    a, b = h.stable_group(2, session_ms=6000)
    h.advance(3000)
    assert h.heartbeat(a) == E.none
    h.advance(2999)
    assert h.heartbeat(a) == E.none and b in h.group.members
    h.advance(1)
    assert b not in h.group.members
    assert h.group.state == S.PREPARING_REBALANCE
    assert h.heartbeat(a) == E.rebalance_in_progress


def test_a_parked_join_keeps_a_member_alive_past_its_session() -> None:
    """A member waiting in JoinGroup is not expired by its session timeout, while
    the rebalance waits for the others."""
    h = Harness()
    a, b = h.stable_group(2, session_ms=6000, rebalance_ms=60_000)
    token = h.join(a, session_ms=6000, rebalance_ms=60_000)
    for _ in range(4):
        h.advance(2500)
        assert h.heartbeat(b) == E.rebalance_in_progress
    assert a in h.group.members and h.result(token) is None


def test_a_new_member_stuck_in_join_is_removed_after_five_minutes() -> None:
    """Kafka's new-member join timeout: a first JoinGroup parked too long is
    answered UNKNOWN_MEMBER_ID and the member dropped."""
    h = Harness(new_member_timeout_ms=300_000)
    h.stable_group(2, rebalance_ms=600_000, session_ms=600_000)
    c, token = h.new_member(client="late", rebalance_ms=600_000, session_ms=600_000)
    h.advance(299_999)
    assert h.result(token) is None
    h.advance(1)
    assert h.join_result(token).error == E.unknown_member_id
    assert c not in h.group.members


def test_pending_members_expire_after_their_session_timeout() -> None:
    """A MEMBER_ID_REQUIRED member that never comes back is forgotten after its
    session timeout and stops holding up the rebalance."""
    h = Harness()
    a, b = h.stable_group(2)
    pending = h.join_result(h.join(client="ghost", known_id_required=True,
                                   session_ms=8000)).member_id
    assert pending in h.group.pending_members
    ta, tb = h.join(a), h.join(b)  # the leader rejoining starts a rebalance
    assert h.result(ta) is None and h.result(tb) is None
    h.advance(8000)
    assert pending not in h.group.pending_members
    assert h.join_result(ta).error == E.none


# --- LeaveGroup -----------------------------------------------------------------------------


def test_leave_rebalances_and_the_last_member_leaves_an_empty_group() -> None:
    """Leaving rebalances the rest; once nobody is left the group is Empty with a
    new generation, written as an empty GroupMetadata."""
    h = Harness()
    a, b = h.stable_group(2)
    assert h.leave((b, None)) == [E.none]
    assert h.group.state == S.PREPARING_REBALANCE
    token = h.join(a)
    assert h.join_result(token).generation_id == 2
    h.sync(a, assignments={a: b"all"})
    h.complete_stores()
    assert h.leave((a, None)) == [E.none]
    h.advance(0)
    assert h.group.state == S.EMPTY and h.group.generation == 3
    (store,) = h.stores
    assert store.purpose == StorePurpose.EMPTY and store.value.members == ()


def test_leave_errors_and_removal_by_instance_id() -> None:
    """Unknown members are UNKNOWN_MEMBER_ID; a static member can be removed by its
    instance id alone; a wrong member id for an instance is FENCED_INSTANCE_ID."""
    h = Harness()
    h.stable_group(1)
    token = h.join(client="s", instance="inst-1")  # static: no MEMBER_ID_REQUIRED; parks
    s_id = h.group.static_members["inst-1"]
    assert h.leave(("who", None), ("", "no-such"), ("x", "inst-1")) == [
        E.unknown_member_id, E.unknown_member_id, E.fenced_instance_id]
    assert h.leave(("", "inst-1")) == [E.none]
    assert s_id not in h.group.members
    assert h.join_result(token).error == E.unknown_member_id


def test_leave_of_a_pending_member() -> None:
    """A pending (MEMBER_ID_REQUIRED) member may leave before joining."""
    h = Harness()
    pending = h.join_result(h.join(known_id_required=True)).member_id
    assert h.leave((pending, None)) == [E.none]
    assert not h.group.pending_members


# --- static membership (KIP-345) --------------------------------------------------------------


def _static_group(h: Harness) -> tuple[str, str]:
    """A Stable group: dynamic leader `a` and static member with instance "i1"."""
    a, _ = h.new_member(client="a")
    ts = h.join(client="s", instance="i1")
    h.advance(0)
    s = h.join_result(ts).member_id
    assert s.startswith("i1-")
    h.sync(s)
    h.sync(a, assignments={a: b"pa", s: b"ps"})
    h.complete_stores()
    assert h.group.state == S.STABLE
    return a, s


def test_static_member_restart_keeps_its_assignment_without_a_rebalance() -> None:
    """A static member rejoining with an unknown member id while Stable gets a new
    member id, the group stays Stable (after persisting), and the old id is fenced."""
    h = Harness()
    a, old = _static_group(h)
    token = h.join(client="s", instance="i1")
    assert h.result(token) is None and h.stores[0].purpose == StorePurpose.STATIC_REPLACE
    h.complete_stores()
    result = h.join_result(token)
    new = result.member_id
    assert result.error == E.none and new != old and result.leader == a
    assert h.group.state == S.STABLE and h.group.generation == 1
    assert h.heartbeat(old, instance="i1") == E.fenced_instance_id
    assert h.heartbeat(new, instance="i1") == E.none
    assert h.sync_result(h.sync(new, instance="i1")).assignment == b"ps"


def test_static_leader_restart_skips_assignment_from_v9() -> None:
    """A rejoining static leader learns it leads but skips the assignment (KIP-814)."""
    h = Harness()
    ts = h.join(client="s", instance="i1")
    h.advance(0)
    s = h.join_result(ts).member_id
    h.sync(s, assignments={s: b"mine"})
    h.complete_stores()
    token = h.join(client="s", instance="i1", skip_assignment=True)
    h.complete_stores()
    result = h.join_result(token)
    assert result.skip_assignment and result.leader == result.member_id
    assert [m.member_id for m in result.members] == [result.member_id]


def test_failed_static_replacement_reverts() -> None:
    """If the new member id cannot be stored, the old one stays and the join fails."""
    h = Harness()
    _, old = _static_group(h)
    token = h.join(client="s", instance="i1")
    h.complete_stores(E.not_coordinator)
    result = h.join_result(token)
    assert result.error == E.not_coordinator and result.member_id == ""
    assert h.group.static_members["i1"] == old
    assert h.heartbeat(old, instance="i1") == E.none


def test_static_rejoin_while_completing_rebalance_rebalances_and_fences_the_old_request() -> None:
    """A static member replaced while its old id awaits SyncGroup: the old request is
    FENCED_INSTANCE_ID and the group rebalances (the leader may assign the old id)."""
    h = Harness()
    a, old = _static_group(h)
    h.join(a)
    ts = h.join(old, instance="i1")
    h.advance(0)
    assert h.group.state == S.COMPLETING_REBALANCE and h.join_result(ts).error == E.none
    old_sync = h.sync(old, instance="i1")
    h.join(client="s", instance="i1")
    assert h.sync_result(old_sync).error == E.fenced_instance_id
    assert h.group.state == S.PREPARING_REBALANCE


def test_static_members_are_not_removed_for_not_rejoining() -> None:
    """At the rebalance timeout dynamic laggards are removed, static ones kept."""
    h = Harness()
    a, s = _static_group(h)
    token = h.join(a)
    h.advance(30_000)
    assert h.join_result(token).error == E.none
    assert s in h.group.members


# --- offset commit checks ---------------------------------------------------------------------


def test_offset_commit_validation() -> None:
    """Simple commits only while Empty; member commits need the current generation;
    REBALANCE_IN_PROGRESS while awaiting the assignment."""
    h = Harness()
    g = h.group
    assert g.validate_offset_commit(h.now, member_id="", group_instance_id=None,
                                    generation_id=-1) == E.none
    a, b = h.stable_group(2)
    check = lambda m, gen, inst=None: g.validate_offset_commit(  # noqa: E731
        h.now, member_id=m, group_instance_id=inst, generation_id=gen)
    assert check("", -1) == E.unknown_member_id
    assert check(a, 1) == E.none
    assert check(a, 0) == E.illegal_generation
    assert check(a, -1) == E.illegal_generation
    assert check("x", 1) == E.unknown_member_id
    assert check(a, 1, "i9") == E.unknown_member_id
    h.join(a)
    assert check(a, 1) == E.none  # PreparingRebalance: the old generation may still commit
    h.join(b)
    assert g.state == S.COMPLETING_REBALANCE
    assert check(a, 2) == E.rebalance_in_progress


# --- protocol selection, summaries, records ------------------------------------------------------


def test_protocol_selection_by_vote_with_ties_to_the_oldest_member() -> None:
    """The protocol all members support with the most first preferences wins;
    ties go to the oldest member's choice."""
    h = Harness()
    both = (("range", b"r"), ("roundrobin", b"rr"))
    rr_first = (("roundrobin", b"rr"), ("range", b"r"))
    h.join(client="a", protocols=both)
    h.join(client="b", protocols=rr_first)
    assert h.group.select_protocol() == "range"
    h.join(client="c", protocols=rr_first)
    assert h.group.select_protocol() == "roundrobin"
    assert h.join_result(h.join(client="d", protocols=(("sticky", b""),))).error == (
        E.inconsistent_group_protocol)


def test_summary_shows_metadata_and_assignments_only_when_stable() -> None:
    """DescribeGroups sees member metadata and assignments only in Stable."""
    h = Harness()
    a, b = h.stable_group(2)
    summary = h.group.summary()
    assert (summary.state, summary.protocol_type, summary.protocol) == (
        "Stable", "consumer", "range")
    assert {m.member_id: m.assignment for m in summary.members} == {
        a: f"a-{a}".encode(), b: f"a-{b}".encode()}
    h.join(a)
    summary = h.group.summary()
    assert summary.state == "PreparingRebalance" and summary.protocol == ""
    assert all(m.assignment == b"" and m.metadata == b"" for m in summary.members)


def test_loaded_group_is_stable_with_its_members() -> None:
    """A group rebuilt from its GroupMetadataValue is Stable with the stored
    assignments; members must heartbeat within their session."""
    value = GroupMetadataValue("consumer", 4, "range", "m1", 123, (
        MemberMetadata("m1", None, "c", "/h", 30_000, 10_000, b"\x00\x00\x00\x00\x00\x00", b"A"),
        MemberMetadata("m2", "i2", "c", "/h", -1, 10_000, b"", b"B"),
    ))
    now = 5_000_000
    group = ClassicGroup.from_record("g", value, GroupConfig(), now)
    assert group.state == S.STABLE and group.generation == 4 and group.leader_id == "m1"
    assert group.members["m2"].rebalance_timeout_ms == 10_000
    assert group.static_members == {"i2": "m2"}
    assert group.heartbeat(now + 5000, member_id="m1", group_instance_id=None,
                           generation_id=4) == E.none
    out = Outbox()
    group.poll(now + 10_000, out)
    assert "m2" not in group.members and group.state == S.PREPARING_REBALANCE
    assert group.metadata_value({})  # still encodable


def test_metadata_value_round_trips_through_from_record() -> None:
    """What the group persists rebuilds the same members and assignments."""
    h = Harness()
    a, b = h.stable_group(2)
    value = h.group.metadata_value({m: h.group.members[m].assignment for m in (a, b)})
    rebuilt = ClassicGroup.from_record("g", value, GroupConfig(), h.now)
    assert rebuilt.summary() == h.group.summary()


def test_illegal_transitions_raise() -> None:
    """The state table refuses e.g. Empty -> Stable."""
    h = Harness()
    with pytest.raises(IllegalTransition):
        h.group._transition(S.STABLE, h.now)


def test_unload_answers_parked_requests_not_coordinator() -> None:
    """Losing the partition makes the group Dead and answers every parked request
    NOT_COORDINATOR; a Dead group refuses joins."""
    h = Harness()
    a, b = h.stable_group(2)
    ta = h.join(a)
    out = Outbox()
    h.group.unload(h.now, out)
    h.take(out)
    assert h.join_result(ta).error == E.not_coordinator
    assert h.group.state == S.DEAD
    assert h.join_result(h.join(b)).error == E.coordinator_not_available
    assert h.heartbeat(b) == E.coordinator_not_available


# --- offset expiry ------------------------------------------------------------------------


def _offset(ts: int, expire: int = -1) -> OffsetCommitValue:
    return OffsetCommitValue(offset=1, metadata="", commit_timestamp=ts, expire_timestamp=expire)


def test_offsets_of_an_empty_group_expire_from_when_it_became_empty() -> None:
    """KIP-211: an Empty group's offsets expire retention after the group emptied,
    however old the commits."""
    h = Harness()
    (a,) = h.stable_group(1)
    h.group.offsets = {("t", 0): _offset(h.now - 10**9)}
    h.leave((a, None))
    h.advance(0)
    emptied = h.now
    assert h.group.expired_offsets(emptied + 999, 1000) == []
    assert h.group.expired_offsets(emptied + 1000, 1000) == [("t", 0)]


def test_stable_consumer_group_keeps_offsets_of_subscribed_topics() -> None:
    """A Stable consumer group's offsets expire only for topics nobody subscribes to."""
    subscription = b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"
    h = Harness()
    h.stable_group(1, protocols=(("range", subscription),))
    assert h.group.subscribed_topics == frozenset({"t"})
    h.group.offsets = {("t", 0): _offset(0), ("old", 0): _offset(0)}
    assert h.group.expired_offsets(h.now, 1000) == [("old", 0)]


def test_simple_group_offsets_expire_by_commit_time_and_explicit_expiry_wins() -> None:
    """A group that never joined expires each offset by its commit time; an explicit
    expire timestamp (OffsetCommit v2-v4) overrides the retention."""
    group = ClassicGroup("g", GroupConfig(), 0)
    group.current_state_timestamp = None
    group.offsets = {("t", 0): _offset(100), ("t", 1): _offset(5000),
                     ("t", 2): _offset(0, expire=10**12)}
    assert sorted(group.expired_offsets(6000, 1000)) == [("t", 0), ("t", 1)]
    assert group.expired_offsets(5500, 1000) == [("t", 0)]


def test_rebalancing_groups_expire_nothing() -> None:
    """Groups with members that are not Stable expire no offsets."""
    h = Harness()
    a, _ = h.stable_group(2)
    h.group.offsets = {("x", 0): _offset(0)}
    h.join(a)
    assert h.group.expired_offsets(h.now + 10**9, 1) == []
