"""A ReplicaManager (with its LogManager) fed scripted metadata images, as the
metadata loader publishes them, with fake replica fetchers and ISR manager."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import trio

from kraft.broker.log_manager import LogManager
from kraft.broker.partition import Partition
from kraft.broker.replica_manager import ReplicaManager
from kraft.config import KafkaConfig
from kraft.log.records import Record, build_batch
from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import EMPTY, MetadataImage
from kraft.metadata.loader import MetadataUpdate
from kraft.metadata.records import MetadataRecord, PartitionRecord, TopicRecord

NODE = 1
OLD = uuid.UUID(int=1)
NEW = uuid.UUID(int=2)


class FakeFetchers:
    """Records what the replica manager asks of the replica fetchers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def follow(self, partition: Partition) -> None:
        self.calls.append(("follow", partition.name, partition.leader_id))

    def unfollow(self, partition: Partition) -> None:
        self.calls.append(("unfollow", partition.name, partition.leader_id))


class FakeIsr:
    def __init__(self) -> None:
        self.checks: list[tuple[str, float]] = []
        self.silence: list[bool] = []  # whether each check applied the silence rule

    def shrink(self, partitions: Iterable[Partition], now_ms: int, *,
               silence: bool = True) -> None:
        for partition in partitions:
            self.checks.append((partition.name, trio.current_time()))
            self.silence.append(silence)


class Script:
    """A replica manager fed images built from records, as the metadata loader
    publishes them (a delta per step, or a snapshot)."""

    def __init__(self, root: Path, **config: str) -> None:
        """`config`: server.properties keys beyond log.dirs and node.id."""
        self.root = root
        self.config = KafkaConfig({"log.dirs": str(root), "node.id": str(NODE), **config})
        self.fetchers = FakeFetchers()
        self.isr = FakeIsr()
        self.log_manager = LogManager(self.config)
        self.manager = ReplicaManager(self.config, NODE, self.log_manager,
                                      self.fetchers, self.isr)  # type: ignore[arg-type]
        self.changes: list[tuple[str, bool]] = []
        self.manager.on_leadership_change.append(
            lambda p: self.changes.append((p.name, p.is_leader)))
        self.image: MetadataImage = EMPTY

    def step(self, *records: MetadataRecord, snapshot: bool = False) -> None:
        """Replay `records` on the current image and publish the result."""
        base = EMPTY if snapshot else self.image
        delta = MetadataDelta(base)
        first = self.image.provenance.offset + 1
        for offset, record in enumerate(records, start=first):
            delta.replay(record, offset, 1)
        offset = first + len(records) - 1
        image = delta.apply()
        self.manager.apply(MetadataUpdate(
            image=image, previous=self.image, delta=None if snapshot else delta, offset=offset,
            epoch=1, from_snapshot=snapshot, caught_up=True))
        self.image = image

    def partition(self, topic: str = "t", index: int = 0) -> Partition | None:
        return self.manager.get(topic, index)

    def close(self) -> None:
        self.log_manager.shutdown()


def topic(name: str = "t", topic_id: uuid.UUID = OLD, *, leader: int = NODE,
          replicas: tuple[int, ...] = (NODE, 2)) -> list[MetadataRecord]:
    return [TopicRecord(name=name, topic_id=topic_id),
            PartitionRecord(partition_id=0, topic_id=topic_id, replicas=replicas, isr=replicas,
                            leader=leader)]


def produce(partition: Partition, n: int = 3) -> None:
    batch = build_batch([Record(None, b"v%d" % i, timestamp=1) for i in range(n)])
    assert partition.append_as_leader(memoryview(batch)).info.error_code == 0
