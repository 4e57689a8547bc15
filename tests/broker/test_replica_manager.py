"""ReplicaManager.apply driven by scripted metadata images (records replayed
through MetadataDelta, as the loader publishes them): leading, following,
leadership moves, reassignment away, deletion, recreation under the same name
(in a delta and in a snapshot), stray directories and config changes; and the
ISR shrink schedule."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import trio
import trio.testing

from kraft.broker.log_manager import PARTITION_METADATA_FILE, encode_topic_id
from kraft.metadata.records import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    ConfigRecord,
    PartitionChangeRecord,
    RemoveTopicRecord,
)
from tests.broker.replica_harness import NEW, NODE, OLD, Script, produce, topic


def stored_topic_id(directory: Path) -> str:
    return (directory / PARTITION_METADATA_FILE).read_text().split("topic_id: ")[1].strip()


async def test_a_partition_led_here_is_opened_as_leader(tmp_path: Path) -> None:
    """A partition naming this broker leader is opened in its own directory, with
    partition.metadata, led at the image's epoch, not fetched; the coordinator
    hears of it."""
    script = Script(tmp_path)
    script.step(*topic())
    partition = script.partition()
    assert partition is not None and partition.is_leader and partition.leader_epoch == 0
    assert script.manager.get_by_id(OLD, 0) is partition
    assert partition.log.dir == tmp_path / "t-0"
    assert stored_topic_id(partition.log.dir) == encode_topic_id(OLD)
    assert script.fetchers.calls == [("unfollow", "t-0", NODE)]
    assert script.changes == [("t-0", True)]
    script.close()


async def test_a_follower_fetches_from_its_leader_and_follows_moves(tmp_path: Path) -> None:
    """A partition led elsewhere is fetched from its leader; when leadership comes
    here fetching stops, and when it leaves again fetching restarts; an ISR-only
    change does neither."""
    script = Script(tmp_path)
    script.step(*topic(leader=2))
    partition = script.partition()
    assert partition is not None and not partition.is_leader
    assert script.fetchers.calls == [("follow", "t-0", 2)]
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, leader=NODE))
    assert partition.is_leader and partition.leader_epoch == 1
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, isr=(NODE,)))
    assert partition.isr == (NODE,)
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, leader=2))
    assert not partition.is_leader and partition.leader_epoch == 2
    assert script.fetchers.calls == [("follow", "t-0", 2), ("unfollow", "t-0", NODE),
                                     ("follow", "t-0", 2)]
    assert script.changes == [("t-0", False), ("t-0", True), ("t-0", False)]
    script.close()


async def test_waiters_of_a_partition_that_loses_leadership_complete_at_once(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A request waiting in the purgatory on a partition (an acks=all produce, say)
    is completed by the image that moves leadership away, not at its timeout."""
    script = Script(tmp_path)
    script.step(*topic())
    partition = script.partition()
    assert partition is not None
    produce(partition)  # follower 2 never fetches: the high watermark stays at 0
    outcome: list[tuple[bool, float]] = []

    async def produce_waiter() -> None:
        done = await script.manager.purgatory.wait(
            [partition.key], lambda: partition.high_watermark >= 3 or not partition.is_leader,
            trio.current_time() + 30)
        outcome.append((done, trio.current_time()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce_waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert script.manager.purgatory.watched(partition.key) == 1
        await trio.sleep(1)
        script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, leader=2))
    assert outcome == [(True, 1.0)]
    assert len(script.manager.purgatory) == 0
    script.close()


async def test_a_partition_reassigned_away_is_retired_and_deleted(tmp_path: Path) -> None:
    """A partition whose replicas no longer include this broker stops being fetched,
    is retired (closed) and its directory and log are gone."""
    script = Script(tmp_path)
    script.step(*topic(leader=2))
    partition = script.partition()
    assert partition is not None
    directory = partition.log.dir
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, replicas=(2, 3),
                                      isr=(2, 3)))
    assert script.partition() is None and script.manager.get_by_id(OLD, 0) is None
    assert partition.closed
    assert script.fetchers.calls[-1] == ("unfollow", "t-0", 2)
    assert not directory.exists() and list(tmp_path.glob("t-0*")) == []
    assert script.log_manager.get(("t", 0)) is None
    script.close()


async def test_a_deleted_topic_is_removed(tmp_path: Path) -> None:
    """RemoveTopicRecord retires the topic's partitions and deletes their data."""
    script = Script(tmp_path)
    script.step(*topic())
    partition = script.partition()
    assert partition is not None
    produce(partition)
    script.step(RemoveTopicRecord(topic_id=OLD))
    assert script.partition() is None and partition.closed
    assert list(tmp_path.glob("t-0*")) == []
    script.close()


async def test_a_topic_recreated_in_one_delta_starts_empty(tmp_path: Path) -> None:
    """Deleted and recreated under the same name in one delta: the old partition is
    retired, the new one opens empty in the same place with the new topic id."""
    script = Script(tmp_path)
    script.step(*topic())
    old = script.partition()
    assert old is not None
    produce(old)
    script.step(RemoveTopicRecord(topic_id=OLD), *topic(topic_id=NEW))
    new = script.partition()
    assert new is not None and new is not old and old.closed
    assert script.manager.get_by_id(NEW, 0) is new and script.manager.get_by_id(OLD, 0) is None
    assert new.log_end_offset == 0 and new.log.dir == tmp_path / "t-0"
    assert stored_topic_id(new.log.dir) == encode_topic_id(NEW)
    script.close()


async def test_a_topic_recreated_across_a_snapshot_keeps_the_new_log(tmp_path: Path) -> None:
    """A snapshot that holds the topic under a new id (deleted and recreated while
    we fell behind): the old partition is removed first, so its deletion cannot
    take the new partition's directory or map entries with it."""
    script = Script(tmp_path)
    script.step(*topic())
    old = script.partition()
    assert old is not None
    produce(old)
    script.step(*topic(topic_id=NEW), snapshot=True)
    new = script.partition()
    assert new is not None and new is not old and old.closed
    assert script.manager.get_by_id(NEW, 0) is new and script.manager.get_by_id(OLD, 0) is None
    assert new.log.dir.is_dir() and stored_topic_id(new.log.dir) == encode_topic_id(NEW)
    produce(new)
    assert new.log_end_offset == 3
    assert script.log_manager.get(("t", 0)) is not None
    script.close()


async def test_stray_directories_are_swept_after_the_first_image(tmp_path: Path) -> None:
    """The first image deletes directories of topics it does not have, leftovers of
    interrupted deletions, and a directory whose partition.metadata names
    another topic id (which then reopens empty, from offset 0 whatever the old
    log's checkpointed offsets were); unrelated files stay."""
    seed = Script(tmp_path)
    seed.step(*topic("gone", uuid.UUID(int=3)), *topic("t", OLD, replicas=(NODE,)))
    for name in ("gone", "t"):
        partition = seed.partition(name)
        assert partition is not None
        produce(partition)
    old = seed.partition("t")
    assert old is not None and old.delete_records_before(2) == 2
    seed.close()
    (tmp_path / "x-0.0123-delete").mkdir()
    (tmp_path / "notes").mkdir()
    script = Script(tmp_path)
    script.step(*topic("t", NEW))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["notes", "t-0"]
    partition = script.partition()
    assert partition is not None
    assert (partition.log_start_offset, partition.log_end_offset) == (0, 0)
    assert stored_topic_id(partition.log.dir) == encode_topic_id(NEW)
    script.close()


async def test_config_changes_reach_the_partitions(tmp_path: Path,
                                                   autojump_clock: trio.testing.MockClock
                                                   ) -> None:
    """min.insync.replicas and the log config follow the topic's config, then the
    cluster's dynamic broker default once the topic's override is gone, and a
    waiter re-checks when min.insync.replicas changes."""
    script = Script(tmp_path)
    script.step(*topic(), ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t",
                                       name="min.insync.replicas", value="2"))
    partition = script.partition()
    assert partition is not None and partition.min_insync_replicas == 2
    checks: list[int] = []

    def too_few() -> bool:
        checks.append(partition.min_insync_replicas)
        return len(partition.isr) < partition.min_insync_replicas

    async with trio.open_nursery() as nursery:
        nursery.start_soon(script.manager.purgatory.wait, [partition.key], too_few, math.inf)
        await trio.testing.wait_all_tasks_blocked()
        script.step(ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t",
                                 name="retention.ms", value="1000"))
        assert partition.log.config.retention_ms == 1000
        script.step(ConfigRecord(resource_type=BROKER_RESOURCE, resource_name="",
                                 name="min.insync.replicas", value="3"))
        assert partition.min_insync_replicas == 2  # the topic's override wins
        script.step(ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t",
                                 name="min.insync.replicas", value=None))
        assert partition.min_insync_replicas == 3
    assert checks == [2, 3]
    script.step(ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t",
                             name="min.insync.replicas", value="1"), snapshot=False)
    assert partition.min_insync_replicas == 1
    script.close()


async def test_a_snapshot_applies_config_changes(tmp_path: Path) -> None:
    """Config changes that arrive in a snapshot reach the open partitions too."""
    script = Script(tmp_path)
    script.step(*topic())
    partition = script.partition()
    assert partition is not None and partition.min_insync_replicas == 1
    script.step(*topic(), ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t",
                                       name="min.insync.replicas", value="2"), snapshot=True)
    assert script.partition() is partition and partition.min_insync_replicas == 2
    script.close()


async def test_isr_shrink_checks_run_every_half_lag_time(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """With kraft.replica.fetch.silence.max.ms off, `run` checks every led
    partition for followers to drop every replica.lag.time.max.ms / 2 (Kafka's
    isr-expiration), and nothing else (the silence cadence: test_isr_silence.py)."""
    script = Script(tmp_path, **{"kraft.replica.fetch.silence.max.ms": "-1"})
    script.step(*topic())
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(script.manager.run)
        await trio.sleep(46)
        nursery.cancel_scope.cancel()
    lag_s = script.config["replica.lag.time.max.ms"] / 1000
    assert lag_s == 30
    assert [(name, round(at - start, 3)) for name, at in script.isr.checks] == [
        ("t-0", 15), ("t-0", 30), ("t-0", 45)]
    script.close()
