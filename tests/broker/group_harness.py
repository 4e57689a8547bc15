"""A driver for the pure classic group state machine (kraft.broker.group.group).

`Harness` plays the coordinator's part without I/O: it hands the group a
fresh `Token` per parked request, records every answer (failing if a token
is answered twice), keeps the StoreGroup writes the group asks for until the
test completes them, and moves a fake wall clock. Member ids are
deterministic (`<client>-u<n>`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from kraft.broker.group.group import ClassicGroup
from kraft.broker.group.types import (
    GroupConfig,
    JoinRequest,
    JoinResult,
    Outbox,
    Protocols,
    StoreGroup,
    SyncResult,
)

START_MS = 1_700_000_000_000
RANGE: Protocols = (("range", b"range-meta"),)


@dataclass(eq=False)
class Token:
    """Stands for one parked request."""

    what: str
    member_id: str

    def __repr__(self) -> str:
        return f"<{self.what} {self.member_id}>"


class Harness:
    def __init__(self, *, delay_ms: int = 0, new_member_timeout_ms: int = 300_000) -> None:
        self.now = START_MS
        ids = itertools.count()
        self.group = ClassicGroup(
            "g", GroupConfig(initial_rebalance_delay_ms=delay_ms,
                             new_member_join_timeout_ms=new_member_timeout_ms),
            self.now, new_uuid=lambda: f"u{next(ids)}")
        self.replies: dict[Token, JoinResult | SyncResult] = {}
        self.stores: list[StoreGroup] = []

    # --- plumbing ---------------------------------------------------------------------

    def take(self, out: Outbox) -> None:
        for token, result in out.replies:
            assert token not in self.replies, f"{token} answered twice"
            self.replies[token] = result
        self.stores.extend(out.stores)

    def result(self, token: Token) -> JoinResult | SyncResult | None:
        return self.replies.get(token)

    def join_result(self, token: Token) -> JoinResult:
        result = self.replies[token]
        assert isinstance(result, JoinResult)
        return result

    def sync_result(self, token: Token) -> SyncResult:
        result = self.replies[token]
        assert isinstance(result, SyncResult)
        return result

    # --- requests ---------------------------------------------------------------------

    def join(
        self,
        member_id: str = "",
        *,
        client: str = "c",
        instance: str | None = None,
        protocols: Protocols = RANGE,
        protocol_type: str = "consumer",
        session_ms: int = 10_000,
        rebalance_ms: int = 30_000,
        known_id_required: bool = False,
        skip_assignment: bool = False,
    ) -> Token:
        token = Token("join", member_id)
        out = Outbox()
        self.group.join(self.now, out, token, JoinRequest(
            member_id, instance, client, "/127.0.0.1", session_ms, rebalance_ms,
            protocol_type, protocols, known_id_required and instance is None, skip_assignment))
        self.take(out)
        return token

    def sync(
        self,
        member_id: str,
        generation: int | None = None,
        assignments: dict[str, bytes] | None = None,
        *,
        instance: str | None = None,
        protocol_type: str | None = None,
        protocol_name: str | None = None,
    ) -> Token:
        token = Token("sync", member_id)
        out = Outbox()
        self.group.sync(self.now, out, token, member_id=member_id, group_instance_id=instance,
                        generation_id=self.group.generation if generation is None else generation,
                        protocol_type=protocol_type, protocol_name=protocol_name,
                        assignments=assignments or {})
        self.take(out)
        return token

    def heartbeat(self, member_id: str, generation: int | None = None,
                  instance: str | None = None) -> ErrorCode:
        return self.group.heartbeat(
            self.now, member_id=member_id, group_instance_id=instance,
            generation_id=self.group.generation if generation is None else generation)

    def leave(self, *members: tuple[str, str | None]) -> list[ErrorCode]:
        out = Outbox()
        errors = self.group.leave(self.now, out, members)
        self.take(out)
        return errors

    def advance(self, ms: int) -> None:
        self.now += ms
        out = Outbox()
        self.group.poll(self.now, out)
        self.take(out)

    def complete_stores(self, error: ErrorCode = ErrorCode.none) -> list[StoreGroup]:
        """Complete every outstanding group write with `error`, oldest first."""
        done = []
        while self.stores:
            store = self.stores.pop(0)
            out = Outbox()
            self.group.store_completed(self.now, out, store, error)
            self.take(out)
            done.append(store)
        return done

    # --- common scenarios ---------------------------------------------------------------

    def new_member(self, client: str = "c", **kwargs: object) -> tuple[str, Token]:
        """A new dynamic member through KIP-394: MEMBER_ID_REQUIRED, then the real join."""
        first = self.join(client=client, known_id_required=True, **kwargs)  # type: ignore[arg-type]
        result = self.join_result(first)
        assert result.error == ErrorCode.member_id_required
        return result.member_id, self.join(result.member_id, client=client, **kwargs)  # type: ignore[arg-type]

    def stable_group(self, n: int, **kwargs: object) -> list[str]:
        """A Stable group of `n` dynamic members (first is the leader), each assigned
        b"a-<member id>"."""
        ids = []
        tokens = []
        for i in range(n):
            member_id, token = self.new_member(client=f"c{i}", **kwargs)
            ids.append(member_id)
            tokens.append(token)
        self.advance(self.group.config.initial_rebalance_delay_ms)
        for token in tokens:
            assert self.join_result(token).error == ErrorCode.none
        leader = self.group.leader_id
        assert leader is not None
        syncs = [self.sync(m) for m in ids if m != leader]
        syncs.append(self.sync(leader, assignments={m: f"a-{m}".encode() for m in ids}))
        self.complete_stores()
        for token in syncs:
            assert self.sync_result(token).error == ErrorCode.none
        return ids
