"""Scenarios of the differential check, and running them against one broker.

A `Scenario` is a setup, a request and what to normalise:

    scenario("metadata/unknown-topic", METADATA,
             {"topics": [{"name": "vs-no-such-topic", "topic_id": ZERO}],
              "allow_auto_topic_creation": False, ...})

`body` is the request's field values for every version at once (a dict, or a
function of the `Ctx` returning one: it may read `ctx.version` and what setup
stored in `ctx.state`, and may send preparatory requests of its own with
`ctx.call`); `wire.make` keeps the fields each version has. `setup(ctx)` runs
once per broker before the first version. The versions sent are those kraft
advertises for the API and kio can encode, narrowed to `versions` when given;
`raw(ctx)` replaces the body with bytes sent as they are (garbage, unknown
versions), at exactly `versions`, decoded as `raw_response`. `rules` are added
to tree.DEFAULT_RULES; `listener` picks the client or the controller listener.

`run(addresses, scenarios, versions_of)` runs every scenario against one
broker (its client and controller listeners), each on a connection of its
own, versions in ascending order, and returns {scenario name: {version:
outcome tree}} plus the setup failures.
Both brokers get the same scenarios with the same versions in the same order;
setup and preparatory requests (whose number can vary, e.g. polls until a
topic is ready) go over a second connection, so the measured connection
carries the same frames to both sides, except where a body uses what the
broker assigned (a topic id, a member id).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.log.records import Record, build_batch
from tests.compat.differential import wire
from tests.compat.differential.tree import to_tree

ZERO = uuid.UUID(int=0)
BASE_TIME = 1_600_000_000_000  # record timestamps scenarios write (2020-09), below FIXED_TIME_LIMIT
READY_TIMEOUT_S = 60.0
RETRIABLE = frozenset({ErrorCode.coordinator_load_in_progress, ErrorCode.coordinator_not_available,
                       ErrorCode.not_coordinator})

Body = Mapping[str, Any] | Callable[["Ctx"], Mapping[str, Any]]


class SetupFailed(Exception):
    """A scenario's setup (or a preparatory request) did not get the answer it needs."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One setup and request sequence, sent alike to both systems (see the module
    docstring for the fields)."""

    name: str
    api: int
    body: Body | None = None
    setup: Callable[[Ctx], None] | None = None
    versions: Iterable[int] | None = None
    rules: tuple[str, ...] = ()
    raw: Callable[[Ctx], bytes] | None = None
    raw_response: Callable[[Ctx], type | None] | None = None
    framed: bool = False  # raw() returns the size prefix too
    listener: str = "client"  # or "controller": the controller listener
    timeout: float = wire.DEFAULT_TIMEOUT_S
    note: str = ""


SCENARIOS: list[Scenario] = []


def scenario(name: str, api: int, body: Body | None = None, **kwargs: Any) -> Scenario:
    """Define a scenario and add it to SCENARIOS (names are unique)."""
    if any(s.name == name for s in SCENARIOS):
        raise ValueError(f"scenario {name!r} is defined twice")
    found = Scenario(name, api, body, **kwargs)
    SCENARIOS.append(found)
    return found


def slug(name: str) -> str:
    """A topic or group name for scenario `name` (same on both brokers)."""
    return "vs-" + "".join(c if c.isalnum() or c in "._-" else "-" for c in name)


class Ctx:
    """What a scenario's setup and body work with: the connection, the version
    being sent, state kept across versions, and helpers for common setup."""

    def __init__(self, scenario: Scenario, measured: wire.Wire, setup: wire.Wire) -> None:
        self.scenario = scenario
        self.wire = measured
        self.setup_wire = setup
        self.version = -1
        self.state: dict[str, Any] = {}
        self.name = slug(scenario.name)

    # --- preparatory requests ------------------------------------------------------------

    def call(self, api: int, version: int, values: Mapping[str, Any],
             timeout: float | None = None) -> Any:
        """Send a preparatory request on the setup connection (so the measured one
        carries the same frames to both brokers); its response, SetupFailed if none."""
        outcome = self.setup_wire.call(wire.request(api, version, values), timeout)
        if outcome.kind != "response":
            raise SetupFailed(f"api {api} v{version}: {outcome.kind} {outcome.detail}")
        return outcome.response

    def create_topic(self, name: str, partitions: int = 1,
                     configs: Mapping[str, str] | None = None) -> uuid.UUID:
        """CreateTopics (replication factor -1: the broker's default) and wait until
        every partition has a leader that answers ListOffsets; the topic id."""
        response = self.call(19, 7, {
            "topics": [{"name": name, "num_partitions": partitions, "replication_factor": -1,
                        "assignments": [], "configs": [{"name": k, "value": v}
                                                        for k, v in (configs or {}).items()]}],
            "timeout": 30_000, "validate_only": False})
        result = response.topics[0]
        if result.error_code != ErrorCode.none:
            raise SetupFailed(f"CreateTopics {name}: {result.error_code.name} "
                              f"{result.error_message}")
        self.wait_ready(name, partitions)
        return result.topic_id

    def wait_ready(self, topic: str, partitions: int) -> None:
        """Until ListOffsets LATEST answers without error for each partition."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            response = self.call(2, 7, {
                "replica_id": -1, "isolation_level": 0,
                "topics": [{"name": topic, "partitions": [
                    {"partition_index": p, "current_leader_epoch": -1, "timestamp": -1}
                    for p in range(partitions)]}]})
            codes = [p.error_code for t in response.topics for p in t.partitions]
            if codes and all(c == ErrorCode.none for c in codes):
                return
            if time.monotonic() > deadline:
                raise SetupFailed(f"{topic}: partitions not ready: {codes}")
            time.sleep(0.05)

    def retry(self, what: str, attempt: Callable[[], Any]) -> Any:
        """Call `attempt` (returning an error code and a result) until the code is not
        one a client retries (a coordinator loading or moving); the result."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            code, result = attempt()
            if code not in RETRIABLE:
                return result
            if time.monotonic() > deadline:
                raise SetupFailed(f"{what}: still {code.name} after {READY_TIMEOUT_S:g} s")
            time.sleep(0.1)

    def init_producer_id(self) -> tuple[int, int]:
        """An idempotent producer's (id, epoch) from InitProducerId v4, retried as a
        client does while the broker is still getting producer ids."""
        def attempt() -> tuple[ErrorCode, Any]:
            response = self.call(22, 4, {"transactional_id": None, "transaction_timeout": 60_000,
                                         "producer_id": -1, "producer_epoch": -1})
            return response.error_code, response
        response = self.retry("InitProducerId", attempt)
        if response.error_code != ErrorCode.none:
            raise SetupFailed(f"InitProducerId: {response.error_code.name}")
        return response.producer_id, response.producer_epoch

    def wait_coordinator(self, key: str) -> None:
        """Until FindCoordinator for group `key` answers without error (the offsets
        topic exists and its partition has a leader)."""
        def attempt() -> tuple[ErrorCode, Any]:
            response = self.call(10, 4, {"key_type": 0, "coordinator_keys": [key]})
            return response.coordinators[0].error_code, response.coordinators[0]
        found = self.retry("FindCoordinator", attempt)
        if found.error_code != ErrorCode.none:
            raise SetupFailed(f"FindCoordinator {key}: {found.error_code.name}")

    def topic_id(self, name: str) -> uuid.UUID:
        response = self.call(3, 12, {"topics": [{"name": name, "topic_id": ZERO}],
                                     "allow_auto_topic_creation": False,
                                     "include_topic_authorized_operations": False})
        return response.topics[0].topic_id

    def produce(self, topic: str, count: int, partition: int = 0, start: int = 0,
                **batch: Any) -> int:
        """Produce `count` records ("key-i", "value-i", timestamp BASE_TIME + i) in one
        batch with acks=all; the base offset."""
        response = self.call(0, 9, {
            "transactional_id": None, "acks": -1, "timeout": 30_000,
            "topic_data": [{"name": topic, "partition_data": [
                {"index": partition, "records": records(count, start, **batch)}]}]})
        part = response.responses[0].partition_responses[0]
        if part.error_code != ErrorCode.none:
            raise SetupFailed(f"Produce {topic}-{partition}: {part.error_code.name}")
        return part.base_offset

    def join_group(self, group: str, topic: str,
                   protocol_type: str = "consumer") -> tuple[str, int]:
        """One member joins `group` (JoinGroup v9, retried with the member id the
        broker assigns) and syncs as leader; (member id, generation)."""
        join = {"group_id": group, "session_timeout": 30_000, "rebalance_timeout": 60_000,
                "member_id": "", "group_instance_id": None, "protocol_type": protocol_type,
                "protocols": [{"name": "range", "metadata": subscription(topic)}],
                "reason": None}
        response = self.call(11, 9, join, timeout=70)
        if response.error_code == ErrorCode.member_id_required:
            response = self.call(11, 9, {**join, "member_id": response.member_id}, timeout=70)
        if response.error_code != ErrorCode.none:
            raise SetupFailed(f"JoinGroup {group}: {response.error_code.name}")
        member, generation = response.member_id, response.generation_id
        sync = self.call(14, 5, {
            "group_id": group, "generation_id": generation, "member_id": member,
            "group_instance_id": None, "protocol_type": protocol_type, "protocol_name": "range",
            "assignments": [{"member_id": member, "assignment": assignment(topic, [0])}]})
        if sync.error_code != ErrorCode.none:
            raise SetupFailed(f"SyncGroup {group}: {sync.error_code.name}")
        return member, generation

    def commit(self, group: str, topic: str, offset: int, partition: int = 0,
               member: str = "", generation: int = -1) -> None:
        """OffsetCommit v8 of one partition (simple group when member is "")."""
        self.wait_coordinator(group)

        def attempt() -> tuple[ErrorCode, ErrorCode]:
            response = self.call(8, 8, {
                "group_id": group, "generation_id_or_member_epoch": generation,
                "member_id": member, "group_instance_id": None,
                "topics": [{"name": topic, "partitions": [
                    {"partition_index": partition, "committed_offset": offset,
                     "committed_leader_epoch": -1, "committed_metadata": "meta"}]}]})
            code = response.topics[0].partitions[0].error_code
            return code, code
        code = self.retry("OffsetCommit", attempt)
        if code != ErrorCode.none:
            raise SetupFailed(f"OffsetCommit {group}: {code.name}")


def records(count: int, start: int = 0, **batch: Any) -> bytes:
    """One uncompressed batch of `count` records with fixed keys, values and timestamps."""
    return build_batch([Record(key=f"key-{i}".encode(), value=f"value-{i}".encode(),
                               timestamp=BASE_TIME + i)
                        for i in range(start, start + count)], **batch)


def subscription(*topics: str) -> bytes:
    """ConsumerProtocolSubscription v0 bytes for `topics` (no user data)."""
    out = bytearray(b"\x00\x00") + len(topics).to_bytes(4, "big")
    for t in topics:
        out += len(t).to_bytes(2, "big") + t.encode()
    return bytes(out + b"\xff\xff\xff\xff")


def assignment(topic: str, partitions: list[int]) -> bytes:
    """ConsumerProtocolAssignment v0 bytes: `partitions` of `topic`."""
    out = bytearray(b"\x00\x00\x00\x00\x00\x01")
    out += len(topic).to_bytes(2, "big") + topic.encode() + len(partitions).to_bytes(4, "big")
    for p in partitions:
        out += p.to_bytes(4, "big")
    return bytes(out + b"\xff\xff\xff\xff")


# ---------------------------------------------------------------- running


def outcome_tree(outcome: wire.Outcome) -> Any:
    if outcome.kind == "response":
        return {"response": to_tree(outcome.response)}
    return {outcome.kind: outcome.detail} if outcome.detail else {outcome.kind: True}


@dataclasses.dataclass
class RunResult:
    """One broker's answers: {scenario: {version: outcome tree}} and failed setups."""

    answers: dict[str, dict[int, Any]] = dataclasses.field(default_factory=dict)
    setup_failures: dict[str, str] = dataclasses.field(default_factory=dict)


def run(addresses: Mapping[str, tuple[str, int]], scenarios: Iterable[Scenario],
        versions_of: Callable[[Scenario], list[int]],
        progress: Callable[[str], None] | None = None) -> RunResult:
    """Every scenario against one broker, whose listeners ("client", "controller")
    are at `addresses` (see the module docstring)."""
    result = RunResult()
    for sc in scenarios:
        if progress is not None:
            progress(sc.name)
        answers: dict[int, Any] = {}
        address = addresses[sc.listener]
        with wire.Wire(address, timeout=sc.timeout) as measured, \
                wire.Wire(addresses["client"]) as setup:
            ctx = Ctx(sc, measured, setup)
            try:
                if sc.setup is not None:
                    sc.setup(ctx)
                for version in versions_of(sc):
                    ctx.version = version
                    answers[version] = _exchange(ctx, sc)
            except SetupFailed as e:
                result.setup_failures[sc.name] = f"v{ctx.version}: {e}"
            except Exception as e:
                result.setup_failures[sc.name] = (f"v{ctx.version}: {type(e).__name__}: {e}\n"
                                                  + traceback.format_exc(limit=4))
        result.answers[sc.name] = answers
    return result


def _exchange(ctx: Ctx, sc: Scenario) -> Any:
    if sc.raw is not None:
        cls = sc.raw_response(ctx) if sc.raw_response is not None else None
        return outcome_tree(ctx.wire.send_raw(sc.raw(ctx), cls, framed=sc.framed))
    body = sc.body(ctx) if callable(sc.body) else sc.body
    assert body is not None, f"scenario {sc.name} has neither body nor raw"
    return outcome_tree(ctx.wire.call(wire.request(sc.api, ctx.version, body)))
