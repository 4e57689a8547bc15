"""The trio GroupCoordinator (kraft.broker.group.coordinator, .shard, .api) over real
`__consumer_offsets` partition logs on disk, inside a fake broker: loading and
unloading with leadership, acks=all writes and their failures, durability across
a reload, expiry and deletion. Group timers run on trio's autojump clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
from kio.schema.errors import ErrorCode

from kraft.broker.group import api, loader
from kraft.broker.group.coordinator import CoordinatorConfig, GroupCoordinator
from kraft.broker.group.types import GroupState, JoinRequest
from kraft.broker.internal_topics import GROUP_METADATA_TOPIC, partition_for
from kraft.broker.partition import Partition, PartitionKey
from kraft.broker.purgatory import DelayedOperationPurgatory
from kraft.config import KafkaConfig
from kraft.log.config import LogConfig
from kraft.metadata.image import PartitionRegistration
from kraft.metadata.loader import MetadataUpdate

E = ErrorCode
NODE = 1
FOLLOWER = 2
PARTITIONS = 3
TOPIC_ID = uuid.UUID(int=7)
SUBSCRIPTION = b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"  # ConsumerProtocol v0: ["t"]


class FakeReplicaManager:
    def __init__(self) -> None:
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.on_leadership_change: list[Callable[[Partition], None]] = []
        self.purgatory: DelayedOperationPurgatory[PartitionKey] = DelayedOperationPurgatory(
            "test")


class FakeBroker:
    """The parts the coordinator is built with in BrokerServer, around real partition logs."""

    def __init__(self, root: Path, *, replicas: tuple[int, ...] = (NODE,)) -> None:
        self.root = root
        self.node_id = NODE
        self.config = KafkaConfig({
            "group.initial.rebalance.delay.ms": "0",
            "group.min.session.timeout.ms": "1000",
            "group.max.session.timeout.ms": "600000",
            "offsets.retention.minutes": "1",
        })
        self.replica_manager = FakeReplicaManager()
        self.replicas = replicas
        self.epoch = 0
        topics = {
            GROUP_METADATA_TOPIC: SimpleNamespace(partitions=dict.fromkeys(range(PARTITIONS))),
            "t": SimpleNamespace(partitions=dict.fromkeys(range(6))),
        }
        self.image = SimpleNamespace(topics=SimpleNamespace(by_name=topics))
        for index in range(PARTITIONS):
            partition = Partition.open(root / f"{GROUP_METADATA_TOPIC}-{index}",
                                       GROUP_METADATA_TOPIC, index, TOPIC_ID, LogConfig(), NODE,
                                       purgatory=self.replica_manager.purgatory)
            self.replica_manager.partitions[(GROUP_METADATA_TOPIC, index)] = partition
            self.lead(index)

    def partition(self, index: int) -> Partition:
        return self.replica_manager.partitions[(GROUP_METADATA_TOPIC, index)]

    def lead(self, index: int, epoch: int | None = None) -> None:
        epoch = self.epoch if epoch is None else epoch
        registration = PartitionRegistration(replicas=self.replicas, isr=self.replicas,
                                             leader=NODE, leader_epoch=epoch)
        self.partition(index).make_leader(registration, 0)
        for callback in self.replica_manager.on_leadership_change:
            callback(self.partition(index))

    def follow(self, index: int) -> None:
        registration = PartitionRegistration(replicas=self.replicas, isr=self.replicas,
                                             leader=FOLLOWER, leader_epoch=self.epoch + 1)
        self.partition(index).make_follower(registration)
        for callback in self.replica_manager.on_leadership_change:
            callback(self.partition(index))

    def close(self) -> None:
        for partition in self.replica_manager.partitions.values():
            partition.close()

    def coordinator(self, clock: Callable[[], int] | None = None) -> GroupCoordinator:
        """A coordinator built from this broker's parts, as BrokerServer builds it."""
        config = CoordinatorConfig.from_config(self.config)
        image: Any = lambda: self.image  # noqa: E731 (a stand-in for MetadataImage)
        if clock is None:
            return GroupCoordinator(NODE, config, self.replica_manager, image)
        return GroupCoordinator(NODE, config, self.replica_manager, image, clock)


def shard_of(group_id: str) -> int:
    return partition_for(group_id, PARTITIONS)


def join_request(member_id: str = "", *, session_ms: int = 10_000) -> JoinRequest:
    return JoinRequest(member_id, None, "client", "/127.0.0.1", session_ms, 20_000, "consumer",
                       (("range", SUBSCRIPTION),), require_known_member_id=False)


@asynccontextmanager
async def running(broker: FakeBroker, clock: Callable[[], int] | None = None,
                  ) -> AsyncIterator[GroupCoordinator]:
    coordinator = broker.coordinator(clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(coordinator.run)
        await wait_loaded(coordinator)
        yield coordinator
        nursery.cancel_scope.cancel()


async def wait_loaded(coordinator: GroupCoordinator) -> None:
    with trio.fail_after(10):
        while not coordinator.shards or any(s.loading for s in coordinator.shards.values()):
            await trio.sleep(0.001)


async def stable_member(coordinator: GroupCoordinator, group: str, **kw: Any) -> tuple[str, int]:
    """Join `group` alone and sync an assignment; (member id, generation)."""
    joined = await api.join_group(coordinator, group, join_request(**kw))
    assert joined.error == E.none
    synced = await api.sync_group(
        coordinator, group, member_id=joined.member_id, group_instance_id=None,
        generation_id=joined.generation_id, protocol_type="consumer", protocol_name="range",
        assignments={joined.member_id: b"assignment"})
    assert synced.error == E.none and synced.assignment == b"assignment"
    return joined.member_id, joined.generation_id


async def commit(coordinator: GroupCoordinator, group: str, offsets: dict[int, int],
                 member_id: str = "", generation: int = -1, metadata: str | None = "m",
                 ) -> list[ErrorCode]:
    return await api.commit_offsets(
        coordinator, group, member_id=member_id, group_instance_id=None,
        generation_id=generation, retention_ms=-1, api_version=8,
        entries=[api.OffsetCommitEntry("t", p, o, 3, metadata) for p, o in offsets.items()])


async def fetched(coordinator: GroupCoordinator, group: str) -> dict[int, tuple[int, str]]:
    error, offsets = await api.fetch_offsets(coordinator, group, None)
    assert error == E.none
    return {p: (v.offset, v.metadata) for (_, p), v in offsets if v is not None}


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = FakeBroker(tmp_path)
    yield b
    b.close()


async def test_groups_and_offsets_survive_a_reload(tmp_path: Path) -> None:
    """What a coordinator wrote is what a fresh coordinator loads from the same logs:
    the Stable group with its member and assignment, the offsets with metadata."""
    first = FakeBroker(tmp_path)
    async with running(first) as coordinator:
        member, generation = await stable_member(coordinator, "g")
        assert await commit(coordinator, "g", {0: 10, 1: 11}, member, generation,
                            metadata=None) == [E.none, E.none]
        assert await commit(coordinator, "simple", {2: 5}) == [E.none]
        assert await fetched(coordinator, "g") == {0: (10, ""), 1: (11, "")}
    first.close()
    second = FakeBroker(tmp_path)
    try:
        async with running(second) as coordinator:
            assert await fetched(coordinator, "g") == {0: (10, ""), 1: (11, "")}
            assert await fetched(coordinator, "simple") == {2: (5, "m")}
            error, summary = api.describe_group(coordinator, "g")
            assert summary.state == "Stable" and summary.protocol == "range"
            assert [(m.member_id, m.assignment) for m in summary.members] == [
                (member, b"assignment")]
            assert api.heartbeat(coordinator, "g", member_id=member, group_instance_id=None,
                                 generation_id=generation) == E.none
            error, groups = api.list_groups(coordinator, (), ())
            assert error == E.none
            assert {(g.group_id, g.state) for g in groups} == {("g", "Stable"),
                                                              ("simple", "Empty")}
    finally:
        second.close()


async def test_requests_while_loading(broker: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Until a partition is loaded: COORDINATOR_LOAD_IN_PROGRESS for JoinGroup and
    offsets, REBALANCE_IN_PROGRESS for SyncGroup, NONE for Heartbeat."""
    release = trio.Event()
    real_load = loader.load_partition

    async def slow_load(log: Any) -> Any:
        await release.wait()
        return await real_load(log)

    monkeypatch.setattr("kraft.broker.group.coordinator.load_partition", slow_load)
    coordinator = broker.coordinator()
    async with trio.open_nursery() as nursery:
        await nursery.start(coordinator.run)
        joined = await api.join_group(coordinator, "g", join_request())
        assert joined.error == E.coordinator_load_in_progress
        synced = await api.sync_group(coordinator, "g", member_id="m", group_instance_id=None,
                                      generation_id=1, protocol_type=None, protocol_name=None,
                                      assignments={})
        assert synced.error == E.rebalance_in_progress
        assert api.heartbeat(coordinator, "g", member_id="m", group_instance_id=None,
                             generation_id=1) == E.none
        assert await commit(coordinator, "g", {0: 1}) == [E.coordinator_load_in_progress]
        assert api.list_groups(coordinator, (), ())[0] == E.coordinator_load_in_progress
        release.set()
        await wait_loaded(coordinator)
        assert (await api.join_group(coordinator, "g", join_request())).error == E.none
        nursery.cancel_scope.cancel()


async def test_losing_leadership_unloads_and_answers_parked_requests(broker: FakeBroker) -> None:
    """When another broker takes the partition, parked JoinGroups get NOT_COORDINATOR
    and the group's requests are NOT_COORDINATOR; leading again reloads the group."""
    async with running(broker) as coordinator:
        member, generation = await stable_member(coordinator, "g")
        assert await commit(coordinator, "g", {0: 7}, member, generation) == [E.none]
        index = shard_of("g")
        results: list[Any] = []

        async def newcomer() -> None:
            results.append(await api.join_group(coordinator, "g", join_request()))

        # A second member joins: the rebalance waits for the first to rejoin.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(newcomer)
            await trio.sleep(0.01)
            assert results == []
            broker.follow(index)
        assert [r.error for r in results] == [E.not_coordinator]
        assert index not in coordinator.shards
        assert api.heartbeat(coordinator, "g", member_id=member, group_instance_id=None,
                             generation_id=generation) == E.not_coordinator
        assert await commit(coordinator, "g", {0: 8}) == [E.not_coordinator]
        broker.epoch += 2
        broker.lead(index)
        await wait_loaded(coordinator)
        assert await fetched(coordinator, "g") == {0: (7, "m")}


async def test_writes_below_min_insync_replicas_fail(broker: FakeBroker) -> None:
    """With the ISR below min.insync.replicas nothing is written: commits answer
    COORDINATOR_NOT_AVAILABLE and the committed offset does not change."""
    async with running(broker) as coordinator:
        assert await commit(coordinator, "g", {0: 1}) == [E.none]
        for partition in broker.replica_manager.partitions.values():
            partition.min_insync_replicas = 2
        assert await commit(coordinator, "g", {0: 2}) == [E.coordinator_not_available]
        assert await fetched(coordinator, "g") == {0: (1, "m")}


async def test_commits_wait_for_replication_and_apply_in_log_order(tmp_path: Path) -> None:
    """With a follower in the ISR a commit is answered, and visible to OffsetFetch,
    only once the follower has it; require_stable waits for it."""
    broker = FakeBroker(tmp_path, replicas=(NODE, FOLLOWER))
    try:
        async with running(broker) as coordinator:
            partition = broker.partition(shard_of("g"))
            answers: list[Any] = []

            async def commit_one(offset: int) -> None:
                answers.append((offset, await commit(coordinator, "g", {0: offset})))

            async def stable_fetch() -> None:
                answers.append(("stable", await api.fetch_offsets(
                    coordinator, "g", [("t", 0)], require_stable=True)))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(commit_one, 1)
                await trio.sleep(0.01)
                nursery.start_soon(commit_one, 2)
                await trio.sleep(0.01)
                nursery.start_soon(stable_fetch)
                await trio.sleep(0.01)
                assert answers == [] and await fetched(coordinator, "g") == {}
                partition.update_follower_fetch_state(FOLLOWER, partition.log_end_offset, 0)
            # Answers may reach their tasks in any order; the state is applied in log
            # order, so the later commit wins.
            assert sorted(map(str, (a[0] for a in answers))) == ["1", "2", "stable"]
            assert all(a[1] == [E.none] for a in answers if a[0] != "stable")
            stable = next(a[1] for a in answers if a[0] == "stable")
            assert stable[1][0][1].offset == 2
            assert await fetched(coordinator, "g") == {0: (2, "m")}
    finally:
        broker.close()


async def test_unreplicated_commit_times_out(tmp_path: Path, autojump_clock: Any) -> None:
    """A commit no follower replicates fails after offsets.commit.timeout.ms (5 s)
    with COORDINATOR_NOT_AVAILABLE, and is not applied."""
    broker = FakeBroker(tmp_path, replicas=(NODE, FOLLOWER))
    try:
        async with running(broker) as coordinator:
            started = trio.current_time()
            assert await commit(coordinator, "g", {0: 9}) == [E.coordinator_not_available]
            assert trio.current_time() - started == pytest.approx(5.0)
            assert await fetched(coordinator, "g") == {}
    finally:
        broker.close()


async def test_session_expiry_empties_the_group_and_persists_it(
    broker: FakeBroker, autojump_clock: Any
) -> None:
    """The timer task expires a silent member; the now Empty group (generation 2) is
    written, so a reload finds it Empty."""
    def clock() -> int:
        return 1_700_000_000_000 + int(trio.current_time() * 1000)

    async with running(broker, clock) as coordinator:
        await stable_member(coordinator, "g", session_ms=3000)
        await trio.sleep(3.5)
        group = coordinator.shards[shard_of("g")].groups["g"]
        assert group.state == GroupState.EMPTY and group.generation == 2
    state = await loader.load_partition(broker.partition(shard_of("g")).log)
    assert state.groups["g"].generation == 2 and state.groups["g"].members == ()


async def test_expiry_removes_offsets_and_empty_groups(broker: FakeBroker) -> None:
    """Offsets past offsets.retention.minutes are tombstoned and a group left Empty
    without offsets is forgotten, in memory and in the log."""
    now = [1_700_000_000_000]
    async with running(broker, lambda: now[0]) as coordinator:
        assert await commit(coordinator, "simple", {0: 1, 1: 2}) == [E.none, E.none]
        now[0] += 30_000
        assert await commit(coordinator, "simple", {1: 3}) == [E.none]
        now[0] += 30_000
        coordinator.expire_offsets()  # partition 0: 60 s old, expired; partition 1: 30 s
        await trio.sleep(0.01)
        assert await fetched(coordinator, "simple") == {1: (3, "m")}
        now[0] += 30_000
        coordinator.expire_offsets()
        await trio.sleep(0.01)
        assert "simple" not in coordinator.shards[shard_of("simple")].groups
    state = await loader.load_partition(broker.partition(shard_of("simple")).log)
    assert "simple" not in state.group_ids()


async def test_deleted_topics_lose_their_offsets(broker: FakeBroker) -> None:
    """When a topic leaves the metadata its committed offsets are tombstoned."""
    async with running(broker) as coordinator:
        assert await commit(coordinator, "g", {0: 1}) == [E.none]
        del broker.image.topics.by_name["t"]
        coordinator.publish(MetadataUpdate(image=broker.image, previous=broker.image,  # type: ignore[arg-type]
                                           delta=None, offset=1, epoch=1, from_snapshot=True,
                                           caught_up=True))
        await trio.sleep(0.01)
        assert await fetched(coordinator, "g") == {}
    state = await loader.load_partition(broker.partition(shard_of("g")).log)
    assert state.offsets.get("g", {}) == {}


async def test_delete_groups_and_offsets(broker: FakeBroker) -> None:
    """DeleteGroups: NON_EMPTY_GROUP with members, GROUP_ID_NOT_FOUND for strangers,
    else gone with its offsets; OffsetDelete: GROUP_SUBSCRIBED_TO_TOPIC while a
    member subscribes, GROUP_ID_NOT_FOUND for strangers."""
    async with running(broker) as coordinator:
        member, generation = await stable_member(coordinator, "busy")
        assert await commit(coordinator, "busy", {0: 1}, member, generation) == [E.none]
        assert await commit(coordinator, "idle", {0: 4, 1: 5}) == [E.none, E.none]
        assert await api.delete_groups(coordinator, ["busy", "nope", "idle"]) == [
            E.non_empty_group, E.group_id_not_found, E.none]
        assert await fetched(coordinator, "idle") == {}
        assert api.describe_group(coordinator, "idle")[1].state == "Dead"
        assert await api.delete_offsets(coordinator, "busy", [("t", 0)]) == (
            E.none, [E.group_subscribed_to_topic])
        assert await api.delete_offsets(coordinator, "nope", [("t", 0)]) == (
            E.group_id_not_found, [])
        assert await api.delete_offsets(coordinator, "", [("t", 0)]) == (E.invalid_group_id, [])
        assert await commit(coordinator, "idle", {0: 4, 1: 5}) == [E.none, E.none]
        assert await api.delete_offsets(coordinator, "idle", [("t", 1)]) == (E.none, [E.none])
        assert await fetched(coordinator, "idle") == {0: (4, "m")}


async def test_commit_checks(broker: FakeBroker) -> None:
    """OffsetCommit: metadata over 4096 characters is OFFSET_METADATA_TOO_LARGE (the
    rest is still written); a generation for an unknown group is ILLEGAL_GENERATION
    before v9 and GROUP_ID_NOT_FOUND from v9; a wrong generation is ILLEGAL_GENERATION."""
    async with running(broker) as coordinator:
        errors = await api.commit_offsets(
            coordinator, "g", member_id="", group_instance_id=None, generation_id=-1,
            retention_ms=-1, api_version=8,
            entries=[api.OffsetCommitEntry("t", 0, 1, -1, "x" * 4097),
                     api.OffsetCommitEntry("t", 1, 2, -1, "x" * 4096)])
        assert errors == [E.offset_metadata_too_large, E.none]
        for version, error in ((8, E.illegal_generation), (9, E.group_id_not_found)):
            assert await api.commit_offsets(
                coordinator, "other", member_id="m", group_instance_id=None, generation_id=3,
                retention_ms=-1, api_version=version,
                entries=[api.OffsetCommitEntry("t", 0, 1, -1, "")]) == [error]
        member, generation = await stable_member(coordinator, "joined")
        assert await commit(coordinator, "joined", {0: 1}, member, generation + 1) == [
            E.illegal_generation]
        assert await commit(coordinator, "joined", {0: 1}) == [E.unknown_member_id]


async def test_routing_errors(broker: FakeBroker) -> None:
    """Before `run` every API answers COORDINATOR_NOT_AVAILABLE; groups of partitions
    led elsewhere are NOT_COORDINATOR (before any other check of the request);
    empty group ids are INVALID_GROUP_ID where Kafka refuses them."""
    coordinator = broker.coordinator()
    assert (await api.join_group(coordinator, "g", join_request())).error == (
        E.coordinator_not_available)
    assert api.describe_group(coordinator, "g")[0] == E.coordinator_not_available
    async with trio.open_nursery() as nursery:
        await nursery.start(coordinator.run)
        await wait_loaded(coordinator)
        broker.follow(shard_of("g"))
        assert (await api.join_group(coordinator, "g", join_request())).error == (
            E.not_coordinator)
        assert (await api.join_group(coordinator, "", join_request())).error == (
            E.invalid_group_id)
        short = JoinRequest("", None, "c", "/h", 999, 1000, "consumer", (("range", b""),))
        # As Kafka's validateGroupStatus: where the group lives is checked first.
        assert (await api.join_group(coordinator, "g", short)).error == E.not_coordinator
        here = next(f"g{i}" for i in range(100) if shard_of(f"g{i}") != shard_of("g"))
        assert (await api.join_group(coordinator, here, short)).error == (
            E.invalid_session_timeout)
        assert api.leave_group(coordinator, "", [("m", None)]) == (E.invalid_group_id, [])
        nursery.cancel_scope.cancel()


async def test_expiry_leaves_an_offset_being_committed_alone(tmp_path: Path) -> None:
    """An offset whose fresh commit is still replicating is not expired from its
    stale in-memory value: once both are written, the fresh commit holds, in memory
    and on reload."""
    broker = FakeBroker(tmp_path, replicas=(NODE, FOLLOWER))
    now = [1_700_000_000_000]
    partition = broker.partition(shard_of("simple"))
    async with running(broker, lambda: now[0]) as coordinator:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(commit, coordinator, "simple", {0: 1})
            await trio.sleep(0.01)
            partition.update_follower_fetch_state(FOLLOWER, partition.log_end_offset, 0)
        now[0] += 120_000  # offset 1 is now older than the retention (1 minute)
        answers: list[list[E]] = []

        async def fresh() -> None:
            answers.append(await commit(coordinator, "simple", {0: 500}))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fresh)
            await trio.sleep(0.01)
            coordinator.expire_offsets()  # the fresh commit is still in flight
            await trio.sleep(0.01)
            partition.update_follower_fetch_state(FOLLOWER, partition.log_end_offset, 0)
        assert answers == [[E.none]]
        assert await fetched(coordinator, "simple") == {0: (500, "m")}
    state = await loader.load_partition(partition.log)
    assert state.offsets["simple"][("t", 0)].offset == 500
    broker.close()
