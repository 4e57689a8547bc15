"""Random schedules of JoinGroup, SyncGroup, Heartbeat, LeaveGroup, write outcomes
and time against the classic group state machine, with its invariants checked
after every step (hypothesis draws the schedules, so failures shrink)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.broker.group.types import GroupState, JoinResult, Outbox, StorePurpose, SyncResult
from tests.broker.group_harness import Harness, Token

E = ErrorCode
S = GroupState
CLIENTS = 4  # clients 0 and 1 are dynamic, 2 and 3 static
# "act" is what a well-behaved client does next (join, sync or heartbeat); the others
# inject arbitrary requests, departures, restarts, write failures and time.
OPS = ("act", "act", "act", "act", "act", "join", "sync", "heartbeat", "leave", "advance",
       "advance", "store_ok", "store_ok", "store_fail", "change_protocols", "restart")


@dataclass
class Client:
    """What one consumer knows, as a real client would track it."""

    instance: str | None
    member_id: str = ""
    generation: int = -1
    members: tuple[str, ...] = ()
    metadata: bytes = b"m0"


def _assignment(generation: int, member_id: str) -> bytes:
    return f"{generation}:{member_id}".encode()


class Schedule:
    def __init__(self) -> None:
        self.h = Harness(delay_ms=500)
        self.clients = [Client(None), Client(None), Client("i2"), Client("i3")]
        self.owner: dict[Token, int] = {}
        self.issued: list[Token] = []
        self.leader_sent: dict[tuple[int, str], bytes] = {}  # (generation, member) -> assignment
        self.rebalances: list[int] = []  # the generation each completed rebalance produced
        self.instance_of: dict[str, str] = {}  # member id -> static instance id, once seen
        group = self.h.group
        transition = group._transition

        def spy(state: GroupState, now: int) -> None:
            was = group.state
            transition(state, now)  # raises on a move the state table forbids
            if was == S.PREPARING_REBALANCE and state in (S.COMPLETING_REBALANCE, S.EMPTY):
                self.rebalances.append(group.generation)

        group._transition = spy  # type: ignore[method-assign]

    # --- driving ---------------------------------------------------------------------------

    def step(self, op: str, who: int, arg: int) -> None:
        h = self.h
        client = self.clients[who]
        seen = set(h.replies)
        generation_before = h.group.generation
        if op == "act":
            op = self._next_move(who)
            arg = 1
        if op == "restart":  # the process restarts: a static member keeps its instance id
            client.member_id, client.generation, client.members = "", -1, ()
        if op in ("join", "change_protocols", "restart"):
            if op == "change_protocols":
                client.metadata = b"m%d" % arg
            self._track(who, h.join(client.member_id, client=f"c{who}", instance=client.instance,
                                    protocols=(("range", client.metadata),),
                                    known_id_required=True, session_ms=6000,
                                    rebalance_ms=4000 + 1000 * arg))
        elif op == "sync":
            assignments = {}
            if client.members:  # it was told it leads: assign every member it was given
                assignments = {m: _assignment(client.generation, m) for m in client.members}
                for m, a in assignments.items():
                    self.leader_sent[(client.generation, m)] = a
            self._track(who, h.sync(client.member_id, client.generation, assignments,
                                    instance=client.instance))
        elif op == "heartbeat":
            error = h.heartbeat(client.member_id, client.generation, client.instance)
            if error in (E.unknown_member_id, E.fenced_instance_id):
                client.member_id, client.generation, client.members = "", -1, ()
            elif error in (E.rebalance_in_progress, E.illegal_generation):
                client.generation = -1  # rejoin
        elif op == "leave":
            h.leave((client.member_id, client.instance))
            client.member_id, client.generation, client.members = "", -1, ()
        elif op == "advance":
            h.advance((0, 500, 1000, 3000, 7000)[arg])
        elif op in ("store_ok", "store_fail"):
            h.complete_stores(E.none if op == "store_ok" else E.coordinator_not_available)
        new = [t for t in h.replies if t not in seen]
        for token in new:
            self._learn(token, h.replies[token])
        self.check(new, generation_before)

    def _next_move(self, who: int) -> str:
        """What a well-behaved client does now: wait for its parked request, join
        without a generation, sync when the group awaits it, else heartbeat."""
        client, g = self.clients[who], self.h.group
        if any(self.owner[t] == who and t not in self.h.replies for t in self.issued):
            return "advance"
        if client.generation < 0 or client.member_id not in g.members:
            return "join"
        if g.state == S.COMPLETING_REBALANCE and client.member_id in g.pending_sync:
            return "sync"
        return "heartbeat"

    def _track(self, who: int, token: Token) -> None:
        self.owner[token] = who
        self.issued.append(token)

    def _learn(self, token: Token, result: JoinResult | SyncResult) -> None:
        client = self.clients[self.owner[token]]
        if result.error in (E.unknown_member_id, E.fenced_instance_id, E.illegal_generation):
            client.member_id, client.generation, client.members = "", -1, ()
        elif result.error == E.rebalance_in_progress:
            client.generation = -1  # rejoin
        elif isinstance(result, JoinResult):
            if result.error == E.member_id_required:
                client.member_id = result.member_id
            elif result.error == E.none:
                client.member_id, client.generation = result.member_id, result.generation_id
                client.members = tuple(m.member_id for m in result.members)

    # --- invariants ------------------------------------------------------------------------

    def check(self, new: list[Token], generation_before: int) -> None:
        g = self.h.group
        members = set(g.members)
        self.instance_of.update({m.member_id: m.group_instance_id for m in g.members.values()
                                 if m.group_instance_id is not None})
        # One generation per rebalance: each completed rebalance adds exactly one.
        assert self.rebalances == list(range(1, len(self.rebalances) + 1))
        assert g.generation == len(self.rebalances)
        # Membership bookkeeping.
        assert (g.leader_id is None) == (not members)
        assert g.leader_id is None or g.leader_id in members
        assert all(g.members[m].group_instance_id == i for i, m in g.static_members.items())
        assert all(m.group_instance_id is None or g.static_members[m.group_instance_id]
                   == m.member_id for m in g.members.values())
        assert not members & set(g.pending_members)
        assert g.pending_sync <= members
        if members:
            assert g.candidate_protocols()
        # States and parked requests.
        if g.state == S.EMPTY:
            assert not members
        if g.state in (S.COMPLETING_REBALANCE, S.STABLE):
            assert members and g.protocol_name is not None
        static_replacing = any(s.purpose == StorePurpose.STATIC_REPLACE for s in self.h.stores)
        for m in g.members.values():
            if m.join_waiter is not None:
                assert g.state == S.PREPARING_REBALANCE or (
                    g.state == S.STABLE and static_replacing)
            if m.sync_waiter is not None:
                assert g.state == S.COMPLETING_REBALANCE
        # One generation per rebalance; answers only to current members.
        assert g.generation in (generation_before, generation_before + 1)
        for token in new:
            result = self.h.replies[token]
            if result.error != E.none:
                continue
            if isinstance(result, JoinResult):
                assert result.generation_id == g.generation
                assert result.member_id in members
                if result.members:
                    assert result.leader == result.member_id
                    assert {m.member_id for m in result.members} == members
            else:
                assert token.member_id in members
                expected = self._expected_assignment(g.generation, token.member_id)
                assert g.state == S.STABLE and result.assignment == expected

    def _expected_assignment(self, generation: int, member_id: str) -> bytes:
        """What the leader of `generation` sent for this member; for a static member
        that replaced an earlier member id of its instance without a rebalance (KIP-345),
        what it sent for that instance."""
        sent = self.leader_sent.get((generation, member_id))
        if sent is not None:
            return sent
        instance = self.instance_of.get(member_id)
        if instance is not None:
            for (gen, old_id), assignment in self.leader_sent.items():
                if gen == generation and self.instance_of.get(old_id) == instance:
                    return assignment
        return b""

    def finish(self) -> None:
        """Unloading answers every request still parked: none is ever left hanging."""
        out = Outbox()
        self.h.group.unload(self.h.now, out)
        self.h.take(out)
        unanswered = [t for t in self.issued if t not in self.h.replies]
        assert not unanswered, unanswered


steps = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, CLIENTS - 1),
                           st.integers(0, 4)), min_size=30, max_size=120)


@settings(max_examples=300)
@given(steps)
def test_random_schedules_keep_the_group_invariants(schedule: list[tuple[str, int, int]]) -> None:
    """Under any interleaving: legal state moves, consistent membership, the
    generation rising by at most one per step with every successful JoinGroup of a
    step carrying it, assignments delivered only to current members and equal to
    what their leader sent, and no parked request left unanswered."""
    s = Schedule()
    for op, who, arg in schedule:
        s.step(op, who, arg)
    s.finish()


@settings(max_examples=100)
@given(st.lists(st.sampled_from(["join", "sync", "heartbeat", "advance"]), max_size=40))
def test_cooperative_members_reach_stable_with_everyone_assigned(ops: list[str]) -> None:
    """Members that do what the protocol asks (join, sync, heartbeat) end Stable after
    a final round, every member holding the assignment its leader sent."""
    s = Schedule()
    for i, op in enumerate(ops):
        s.step(op, i % 2, 0 if op == "advance" else 1)
    # Then orderly rounds, enough for members the clients abandoned (a pending KIP-394
    # id, or a member id a client forgot after an error, maybe the leader) to expire:
    # their session (6 s), rebalance (5 s) and sync (5 s) timeouts.
    for _ in range(12):
        for who in (0, 1):
            s.step("join" if s.clients[who].generation != s.h.group.generation
                   else "sync", who, 1)
            if s.clients[who].generation >= 0:  # clients heartbeat once in a generation
                s.step("heartbeat", who, 0)
        s.step("store_ok", 0, 0)
        s.step("advance", 0, 3)
        s.step("store_ok", 0, 0)
    g = s.h.group
    assert g.state == S.STABLE, g.state
    for m in g.members.values():
        assert m.assignment == s.leader_sent[(g.generation, m.member_id)]
    s.finish()
