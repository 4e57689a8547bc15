"""Values the classic group state machine (kraft.broker.group.group) takes and returns.

The state machine does no I/O. Requests that Kafka parks (JoinGroup until
the rebalance completes, SyncGroup until the leader's assignment is stored)
carry an opaque `waiter` token; the machine keeps the token on the member
and later puts `(waiter, result)` into an `Outbox`, which the caller (the
trio coordinator) delivers. Writes the coordinator must make to
`__consumer_offsets` before a transition takes effect are `StoreGroup`
effects in the same outbox; their outcome comes back through
`ClassicGroup.store_completed`. Every waiter handed to the machine is
answered exactly once, by a result, by an error when its member is removed
or superseded, or by NOT_COORDINATOR when the group is unloaded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.group.records import GroupMetadataValue

Protocols = tuple[tuple[str, bytes], ...]  # (name, metadata) in the member's preference order
UNKNOWN_MEMBER_ID = ""
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000  # Kafka's GroupCoordinator.NewMemberJoinTimeoutMs


class GroupState(enum.Enum):
    """Kafka's classic group states; the values are the names DescribeGroups shows."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """The broker settings a group obeys (Kafka's group.* keys)."""

    initial_rebalance_delay_ms: int = 3000
    new_member_join_timeout_ms: int = NEW_MEMBER_JOIN_TIMEOUT_MS
    max_size: int = (1 << 31) - 1  # group.max.size


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """One JoinGroup, already past the coordinator's checks (group id, session
    timeout bounds). `require_known_member_id`: JoinGroup v4+ without a group
    instance id (KIP-394). `supports_skip_assignment`: v9+ (KIP-814)."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    require_known_member_id: bool = False
    supports_skip_assignment: bool = False


@dataclass(frozen=True, slots=True)
class JoinedMember:
    """A member as the leader sees it in its JoinGroup response."""

    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinResult:
    """A JoinGroup answer. On error only `error` and `member_id` are meaningful
    (plus the current generation for a failed static-member replacement)."""

    error: ErrorCode
    member_id: str
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: tuple[JoinedMember, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncResult:
    error: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


class StorePurpose(enum.Enum):
    """Why the group metadata is written, i.e. what happens once it is durable."""

    SYNC = "sync"  # the leader's assignment: members get it and the group is Stable
    EMPTY = "empty"  # a rebalance left the group empty: nothing waits on it
    STATIC_REPLACE = "static_replace"  # a static member rejoined with a new member id


@dataclass(frozen=True, slots=True)
class StoreGroup:
    """Write `value` under the group's GroupMetadataKey (acks=all), then call
    `ClassicGroup.store_completed(now, out, this, error)`."""

    group_id: str
    value: GroupMetadataValue
    purpose: StorePurpose
    generation: int
    context: Any = None


@dataclass(slots=True)
class Outbox:
    """What a state machine step asks the caller to do, in order."""

    replies: list[tuple[Any, JoinResult | SyncResult]] = field(default_factory=list)
    stores: list[StoreGroup] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Member:
    """A member of a classic group. `join_waiter` / `sync_waiter` hold a parked
    JoinGroup / SyncGroup; `heartbeat_deadline` (ms) is when the session expires
    unless the member heartbeats (None while a parked request keeps it alive)."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    join_waiter: Any = None
    sync_waiter: Any = None
    is_new: bool = False
    heartbeat_deadline: int | None = None

    def metadata(self, protocol: str) -> bytes:
        for name, data in self.protocols:
            if name == protocol:
                return data
        raise KeyError(f"member {self.member_id} does not support protocol {protocol!r}")

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among `candidates`."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError(f"member {self.member_id} supports none of {sorted(candidates)}")

    @property
    def protocol_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.protocols)


@dataclass(frozen=True, slots=True)
class MemberSummary:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """DescribeGroups' view: metadata and assignments only for a Stable group."""

    state: str
    protocol_type: str
    protocol: str
    members: tuple[MemberSummary, ...]


DEAD_GROUP = GroupSummary(GroupState.DEAD.value, "", "", ())
