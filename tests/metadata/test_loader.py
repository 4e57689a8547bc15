"""MetadataLoader: committed entries become images; snapshots round-trip; catching up."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from kraft.metadata.delta import MetadataReplayError
from kraft.metadata.loader import MetadataLoader, MetadataUpdate
from kraft.metadata.records import (
    ConfigRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
    encode,
)
from kraft.raft.disk_log import DiskLog
from kraft.raft.types import Entry, LeaderAndEpoch, LeaderChangeMessage, OffsetAndEpoch

TOPIC_ID = uuid.UUID(int=7)


class Recorder:
    def __init__(self) -> None:
        self.updates: list[MetadataUpdate] = []
        self.leaders: list[LeaderAndEpoch] = []

    def publish(self, update: MetadataUpdate) -> None:
        self.updates.append(update)

    def leader_changed(self, leader: LeaderAndEpoch) -> None:
        self.leaders.append(leader)


def entries() -> tuple[Entry, ...]:
    return (
        Entry(0, 1, b"", LeaderChangeMessage(1, (1,), (1,))),
        Entry(1, 1, encode(RegisterBrokerRecord(broker_id=1, incarnation_id=uuid.UUID(int=1),
                                                 broker_epoch=1))),
        Entry(2, 1, encode(TopicRecord(name="t", topic_id=TOPIC_ID))),
        Entry(3, 1, encode(PartitionRecord(partition_id=0, topic_id=TOPIC_ID, replicas=(1,),
                                           isr=(1,), leader=1))),
    )


def test_committed_entries_become_an_image_published_in_order(tmp_path: Path) -> None:
    """Every slice of committed entries yields one update with the records replayed,
    the LeaderChange records listed, and caught_up once the high watermark is reached."""
    raft_log = DiskLog(tmp_path)
    hwm = [4]
    loader = MetadataLoader(raft_log, lambda: hwm[0])
    recorder = Recorder()
    loader.add_publisher(recorder)
    loader.committed(entries()[:2])
    loader.committed(entries()[2:])
    first, second = recorder.updates
    assert not first.caught_up and second.caught_up
    assert first.leader_changes[0].message.leader_id == 1
    assert second.previous is first.image
    assert second.delta is not None and TOPIC_ID in second.delta.topics_delta.changed_topics
    assert loader.offset == 3
    assert loader.image.topics.by_name["t"].partitions[0].leader == 1
    raft_log.close()


def test_config_changes_are_logged_naming_the_resource(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One INFO line per changed resource, naming its kind: topic, broker, the
    cluster, or group (GROUP resources, type 32)."""
    raft_log = DiskLog(tmp_path)
    loader = MetadataLoader(raft_log, lambda: 8, node_id=1)
    changes = [(2, "t", "retention.ms", "5"), (4, "1", "sasl.kerberos.min.time.before.relogin",
                                                "60001"),
               (4, "", "log.retention.ms", "9"), (32, "g1", "consumer.session.timeout.ms", "50000")]
    with caplog.at_level(logging.INFO, logger="kraft.metadata"):
        loader.committed(entries() + tuple(
            Entry(4 + i, 1, encode(ConfigRecord(resource_type=kind, resource_name=name,
                                                name=key, value=value)))
            for i, (kind, name, key, value) in enumerate(changes)))
    lines = [r.getMessage() for r in caplog.records if "configs of" in r.getMessage()]
    assert lines == ["node 1: configs of topic t changed: retention.ms=5",
                     "node 1: configs of broker 1 changed: "
                     "sasl.kerberos.min.time.before.relogin=60001",
                     "node 1: configs of the cluster changed: log.retention.ms=9",
                     "node 1: configs of group g1 changed: consumer.session.timeout.ms=50000"]
    raft_log.close()


def test_snapshot_written_then_loaded_gives_the_same_image(tmp_path: Path) -> None:
    """A snapshot the loader writes loads back, in a fresh loader, into the same image."""
    raft_log = DiskLog(tmp_path)
    loader = MetadataLoader(raft_log, lambda: 4)
    created: list[OffsetAndEpoch] = []
    loader.snapshot_created = created.append
    loader.committed(entries())
    snapshot_id = OffsetAndEpoch(4, 1)
    loader.snapshot_requested(snapshot_id)
    assert created == [snapshot_id]
    fresh = MetadataLoader(raft_log, lambda: 4)
    recorder = Recorder()
    fresh.add_publisher(recorder)
    fresh.snapshot_loaded(snapshot_id)
    assert fresh.image == loader.image
    assert recorder.updates[0].from_snapshot and recorder.updates[0].delta is None
    raft_log.close()


def test_snapshot_request_for_another_offset_is_a_bug(tmp_path: Path) -> None:
    """Raft may only ask for a snapshot of the state the loader holds."""
    raft_log = DiskLog(tmp_path)
    loader = MetadataLoader(raft_log, lambda: 4)
    loader.committed(entries())
    with pytest.raises(AssertionError):
        loader.snapshot_requested(OffsetAndEpoch(3, 1))
    raft_log.close()


def test_a_record_that_does_not_replay_stops_the_loader(tmp_path: Path) -> None:
    """A partition of an unknown topic is a corrupt log: replay raises."""
    raft_log = DiskLog(tmp_path)
    loader = MetadataLoader(raft_log, lambda: 4)
    with pytest.raises(MetadataReplayError):
        loader.committed((entries()[3],))
    raft_log.close()
