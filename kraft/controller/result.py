"""What a controller command takes and returns (Kafka's `ControllerResult`).

A command is a function of the current (speculative) `MetadataImage`, a
request and a `ControllerContext`. It returns the metadata records to append
and the response to send once they are committed. Commands never change
metadata state themselves: the quorum controller appends the records,
replays them into its speculative image, and answers only after the records
commit (or answers NOT_CONTROLLER if they do not; see
kraft.controller.quorum_controller). The one exception is soft state that
lives only on the active controller and is not in the log: the broker
lifecycle commands (BrokerRegistration, BrokerHeartbeat, UnregisterBroker;
kraft.controller.cluster) also record the broker's contact and reported
offset in the BrokerHeartbeatManager they are given, as Kafka's
BrokerHeartbeatManager is updated outside the records. A result with no
records is answered once every record the controller appended before it is
committed (at once if there are none): it was computed from them.

`ControllerContext.voters` and `kraft_version` are the raft quorum's, which
live outside the metadata image (UpdateFeatures checks them, as Kafka's
QuorumFeatures). `ControllerContext.next_offset` is the offset the result's first record will
get in the metadata log; registration uses it as the broker epoch, as Kafka
does (`QuorumController.registerBroker` passes `nextWriteOffset`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kraft.config import KafkaConfig
from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import MetadataRecord

__all__ = ["ControllerContext", "ControllerResult", "apply_records"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ControllerResult(Generic[T]):
    """Records to append and the response to send once they commit."""

    records: tuple[MetadataRecord, ...]
    response: T


@dataclass(frozen=True, slots=True)
class ControllerContext:
    """What a command may read besides the image. Never mutated by commands."""

    config: KafkaConfig
    cluster_id: str
    now_ms: int = 0
    next_offset: int = 0
    rng: random.Random = field(default_factory=random.Random)
    voters: frozenset[int] = frozenset()  # the quorum's voter ids in force
    kraft_version: int = 0  # the quorum's kraft.version in force (KIP-853)


def apply_records(image: MetadataImage, records: Iterable[MetadataRecord]) -> MetadataImage:
    """`image` with `records` replayed on top (at the image's own provenance).

    For commands that build on their own earlier records (elect leaders in the
    image where a broker is already fenced). Raises MetadataReplayError for
    records that do not fit the image: a bug in the command.
    """
    delta = MetadataDelta(image)
    offset, epoch = max(image.provenance.offset, 0), max(image.provenance.epoch, 0)
    for record in records:
        delta.replay(record, offset, epoch)
    return delta.apply().with_provenance(image.provenance)
