"""MetadataLoader: committed metadata-log entries in, images out to publishers.

Kafka's `MetadataLoader`. It is the raft listener of a node (controller,
broker or both): the raft driver hands it committed entries in log order,
snapshots to load and snapshot requests. It

- decodes each data entry as one metadata record (kraft.metadata.records)
  and replays it into a `MetadataDelta` on the current image; after each
  slice of committed entries it applies the delta into a new image and hands
  a `MetadataUpdate` to every publisher;
- loads a snapshot (installed from the leader, or found at startup) as a
  whole new image: the update then has `delta=None` and `from_snapshot`, and
  publishers must compare images instead of reading a delta;
- writes a snapshot of the current image when raft asks for one (the records
  of `image_to_records`, framed as a `.checkpoint` file by kraft.raft.batches);
- forwards leader changes to publishers.

Catching up: `caught_up` turns true the first time the entries applied reach
the high watermark raft knows, so the image is as complete as the quorum's
committed log. Publishers that must not act on a partial image (the broker:
it would delete "stray" partitions that a later record recreates) wait for
`update.caught_up`.

A payload that is not a metadata record, or a record that does not replay
on the image, means a corrupt log or a bug: the exception propagates through
the raft driver and the node stops, as docs/design.md requires.

All calls come from the raft driver task and must not block for long:
publishers hand slow work to their own tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from kraft import shutdown_log
from kraft.config_keys import PASSWORD_CONFIGS
from kraft.group_configs import GROUP_RESOURCE
from kraft.log.results import wall_clock_ms
from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import EMPTY, MetadataImage, Provenance
from kraft.metadata.records import TOPIC_RESOURCE, decode, encode
from kraft.metadata.snapshot import image_to_records, load_snapshot
from kraft.raft.batches import decode_snapshot, encode_snapshot
from kraft.raft.disk_log import DiskLog
from kraft.raft.types import Entry, LeaderAndEpoch, LeaderChangeMessage, OffsetAndEpoch

log = logging.getLogger("kraft.metadata")

__all__ = ["LeaderChange", "MetadataLoader", "MetadataPublisher", "MetadataUpdate"]


@dataclass(frozen=True, slots=True)
class LeaderChange:
    """A committed LeaderChange control record: `message.leader_id` led from `offset`."""

    offset: int
    epoch: int
    message: LeaderChangeMessage


@dataclass(frozen=True, slots=True)
class MetadataUpdate:
    """What one publish carries.

    `offset` is the last committed offset applied (control records included,
    -1 before any); `image` the image after it; `delta` the records replayed
    since the previous image (None when the image came from a snapshot, or
    when only control records were committed); `leader_changes` the committed
    LeaderChange records in this slice.
    """

    image: MetadataImage
    previous: MetadataImage
    delta: MetadataDelta | None
    offset: int
    epoch: int
    leader_changes: tuple[LeaderChange, ...] = ()
    from_snapshot: bool = False
    caught_up: bool = False


class MetadataPublisher(Protocol):
    """Receives every image in order. Called from the raft driver task."""

    def publish(self, update: MetadataUpdate) -> None: ...

    def leader_changed(self, leader: LeaderAndEpoch) -> None: ...


class MetadataLoader:
    """The raft listener that turns committed entries into images."""

    def __init__(
        self, raft_log: DiskLog, high_watermark: Callable[[], int], node_id: int = -1
    ) -> None:
        self.raft_log = raft_log
        self.node_id = node_id
        self._high_watermark = high_watermark
        self.image: MetadataImage = EMPTY
        self.offset = -1
        self.epoch = -1
        self.caught_up = False
        self.publishers: list[MetadataPublisher] = []
        self.snapshot_created: Callable[[OffsetAndEpoch], None] | None = None

    def add_publisher(self, publisher: MetadataPublisher) -> None:
        self.publishers.append(publisher)

    def _publish(self, update: MetadataUpdate) -> None:
        for publisher in self.publishers:
            publisher.publish(update)

    def _check_caught_up(self) -> bool:
        if not self.caught_up and self.offset + 1 >= self._high_watermark() > 0:
            self.caught_up = True
            log.info("metadata caught up at offset %d", self.offset)
        return self.caught_up

    # --- RaftListener ------------------------------------------------------------

    def snapshot_loaded(self, snapshot_id: OffsetAndEpoch) -> None:
        size = self.raft_log.snapshot_size(snapshot_id)
        if size is None:
            raise FileNotFoundError(f"snapshot {snapshot_id} vanished before it was loaded")
        data = self.raft_log.read_snapshot(snapshot_id, 0, size)
        records = [decode(payload) for payload in decode_snapshot(data)]
        previous = self.image
        provenance = Provenance(snapshot_id.offset - 1, snapshot_id.epoch)
        self.image = load_snapshot(records, provenance)
        self.offset, self.epoch = provenance.offset, provenance.epoch
        log.info("loaded metadata snapshot %d-%d (%d records)",
                 snapshot_id.offset, snapshot_id.epoch, len(records))
        self._publish(MetadataUpdate(
            self.image, previous, None, self.offset, self.epoch,
            from_snapshot=True, caught_up=self._check_caught_up(),
        ))

    def committed(self, entries: tuple[Entry, ...]) -> None:
        previous = self.image
        delta: MetadataDelta | None = None
        leader_changes: list[LeaderChange] = []
        for entry in entries:
            if isinstance(entry.control, LeaderChangeMessage):
                leader_changes.append(LeaderChange(entry.offset, entry.epoch, entry.control))
                continue
            if entry.control is not None:
                continue  # KRaftVersion/Voters records: the raft layer's (KIP-853)
            if delta is None:
                delta = MetadataDelta(previous)
            delta.replay(decode(entry.payload), entry.offset, entry.epoch)
        if delta is not None:
            self.image = delta.apply()
            _log_changes(self.node_id, delta, self.image)
        last = entries[-1]
        self.offset, self.epoch = last.offset, last.epoch
        self._publish(MetadataUpdate(
            self.image, previous, delta, self.offset, self.epoch,
            tuple(leader_changes), caught_up=self._check_caught_up(),
        ))

    def snapshot_requested(self, snapshot_id: OffsetAndEpoch) -> None:
        if snapshot_id.offset - 1 != self.offset:
            raise AssertionError(
                f"snapshot {snapshot_id} requested but the image is at offset {self.offset}"
            )
        payloads = [encode(record) for record in image_to_records(self.image)]
        self.raft_log.write_snapshot(snapshot_id, encode_snapshot(
            payloads, wall_clock_ms(), self.raft_log.quorum_records(snapshot_id.offset)))
        log.info("wrote metadata snapshot %d-%d (%d records)",
                 snapshot_id.offset, snapshot_id.epoch, len(payloads))
        if self.snapshot_created is not None:
            self.snapshot_created(snapshot_id)

    def leader_changed(self, leader: LeaderAndEpoch) -> None:
        for publisher in self.publishers:
            publisher.leader_changed(leader)


def _shown(name: str, value: str | None) -> str:
    """A config value as logged: secrets hidden (as Kafka's [hidden]), a deletion
    as the default coming back."""
    if value is None:
        return "(default)"
    if name.rsplit(".", 1)[-1] in _SECRET_SUFFIXES or any(
            name.endswith(secret) for secret in PASSWORD_CONFIGS):
        return "[hidden]"
    return value


_SECRET_SUFFIXES: Final = frozenset({"password", "secret"})


def _log_changes(node_id: int, delta: MetadataDelta, image: MetadataImage) -> None:
    """One line per significant metadata event: topics created, grown and deleted,
    configs changed (secrets hidden), brokers registered, fenced, unfenced,
    shutting down or gone."""
    base = delta.image
    topics = delta.topics_delta
    if topics is not None:
        for topic_id in topics.deleted_topic_ids:
            gone = base.topics.by_id.get(topic_id)
            if gone is not None:
                log.info("node %d: topic %s deleted (id %s)", node_id, gone.name, topic_id)
        for topic_id in topics.changed_topics:
            topic = image.topics.by_id[topic_id]
            before = base.topics.by_id.get(topic_id)
            if before is None:
                log.info("node %d: topic %s created (id %s, %d partitions)", node_id,
                         topic.name, topic_id, len(topic.partitions))
            elif len(topic.partitions) > len(before.partitions):
                log.info("node %d: topic %s grew from %d to %d partitions", node_id,
                         topic.name, len(before.partitions), len(topic.partitions))
    configs = delta.configs_delta
    if configs is not None:
        for resource, changes in configs.changes.items():
            if resource.type == TOPIC_RESOURCE and resource.name not in image.topics.by_name:
                continue  # the topic's deletion, logged above
            what = (f"topic {resource.name}" if resource.type == TOPIC_RESOURCE
                    else f"group {resource.name}" if resource.type == GROUP_RESOURCE
                    else f"broker {resource.name}" if resource.name else "the cluster")
            log.info("node %d: configs of %s changed: %s", node_id, what, ", ".join(
                f"{name}={_shown(name, value)}" for name, value in sorted(changes.items())))
    cluster = delta.cluster_delta
    if cluster is not None:
        for broker_id, registration in cluster.changed_brokers.items():
            old = base.cluster.brokers.get(broker_id)
            if registration is None:
                log.info("node %d: broker %d unregistered", node_id, broker_id)
            elif old is None or old.broker_epoch != registration.broker_epoch:
                log.info("node %d: broker %d registered (epoch %d)", node_id, broker_id,
                         registration.broker_epoch)
            elif old.fenced != registration.fenced:
                log.log(_own_shutdown_level(node_id, broker_id), "node %d: broker %d %s",
                        node_id, broker_id, "fenced" if registration.fenced else "unfenced")
            elif registration.in_controlled_shutdown and not old.in_controlled_shutdown:
                log.log(_own_shutdown_level(node_id, broker_id),
                        "node %d: broker %d in controlled shutdown", node_id, broker_id)


def _own_shutdown_level(node_id: int, broker_id: int) -> int:
    """DEBUG for this node's own broker while this node shuts down (the shutdown
    is logged once, kraft/shutdown_log.py), else INFO."""
    return shutdown_log.level(node_id) if broker_id == node_id else logging.INFO
