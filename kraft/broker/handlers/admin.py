"""Admin requests the broker forwards to the active controller.

CreateTopics (19) v2-7, DeleteTopics (20) v1-6, CreatePartitions (37) v0-3,
AlterConfigs (33) v0-2, IncrementalAlterConfigs (44) v0-1, ElectLeaders (43)
v0-2, AlterPartitionReassignments (45) v0-1, ListPartitionReassignments (46)
v0, DescribeQuorum (55) v0-2 (KIP-836: admin tools may ask any broker): any
broker takes
them (KRaft clients may send admin requests to any broker) and relays the
request unchanged to the active controller over the controller listener
(Kafka wraps them in Envelope; both ends here run the same code, so the
request itself is relayed). The controller's answer is returned as is. When
no controller answers within the request's timeout, every item gets
REQUEST_TIMED_OUT (retriable for admin clients).

After a successful topic change the broker waits, up to the request's
timeout, until its own metadata image shows it (created topics have leaders,
deleted ones are gone, elected partitions have a leader epoch above the one
the broker knew when it forwarded the request), so a client can use the
result at once.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from kraft.broker.controller_channel import ControllerUnavailable
from kraft.broker.topic_creation import topics_ready
from kraft.controller.error_responses import error_response
from kraft.metadata.image import MetadataImage
from kraft.net.codec import RequestHeader
from kraft.net.server import RequestContext

if TYPE_CHECKING:
    from kraft.broker.server import BrokerServer

# api key -> (min version, max version)
FORWARDED = {19: (2, 7), 20: (1, 6), 37: (0, 3), 33: (0, 2), 44: (0, 1), 43: (0, 2), 45: (0, 1),
             46: (0, 0), 55: (0, 2)}
DEFAULT_TIMEOUT_S = 30.0


async def forward(
    broker: BrokerServer, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    timeout = getattr(request, "timeout", None)
    timeout_s = timeout.total_seconds() if isinstance(timeout, timedelta) else DEFAULT_TIMEOUT_S
    timeout_s = max(timeout_s, 1.0)
    epochs_before = _leader_epochs(broker.image) if header.api_key == 43 else {}
    try:
        response = await broker.channel.send(request, timeout_s)
    except ControllerUnavailable as e:
        return error_response(header.api_key, header.api_version, request,
                              ErrorCode.request_timed_out, str(e))
    if not getattr(request, "validate_only", False):
        await _wait_until_visible(broker, header.api_key, request, response, timeout_s,
                                  epochs_before)
    return response


def _leader_epochs(image: MetadataImage) -> dict[tuple[str, int], int]:
    return {(name, pid): p.leader_epoch for name, topic in image.topics.by_name.items()
            for pid, p in topic.partitions.items()}


async def _wait_until_visible(
    broker: BrokerServer, api_key: int, request: Any, response: Any, timeout_s: float,
    epochs_before: dict[tuple[str, int], int],
) -> None:
    if api_key == 19:
        names = [t.name for t in response.topics if t.error_code == ErrorCode.none]
        if names:
            await broker.wait_for_image(lambda image: topics_ready(image, names), timeout_s)
    elif api_key == 20:
        names = [t.name for t in response.responses
                 if t.error_code == ErrorCode.none and t.name]
        if names:
            await broker.wait_for_image(
                lambda image: not any(n in image.topics.by_name for n in names), timeout_s
            )
    elif api_key == 37:
        ok = {t.name for t in response.results if t.error_code == ErrorCode.none}
        counts = {t.name: t.count for t in request.topics if t.name in ok}
        if counts:
            await broker.wait_for_image(partial(_has_partitions, counts), timeout_s)
    elif api_key == 43:
        elected = {(t.topic, p.partition_id): epochs_before.get((t.topic, p.partition_id), -1)
                   for t in response.replica_election_results for p in t.partition_result
                   if p.error_code == ErrorCode.none}
        if elected:
            await broker.wait_for_image(partial(_epochs_above, elected), timeout_s)


def _has_partitions(counts: dict[str, int], image: MetadataImage) -> bool:
    """Every topic has at least its new partition count, each with a leader."""
    for name, count in counts.items():
        topic = image.topics.by_name.get(name)
        if topic is None or len(topic.partitions) < count:
            return False
    return topics_ready(image, list(counts))


def _epochs_above(epochs: dict[tuple[str, int], int], image: MetadataImage) -> bool:
    """Every (topic, partition) still there has a leader epoch above the given one.

    The baseline is what this broker knew when it forwarded the request; if its
    image lagged behind an earlier leader change of that partition, that change
    alone passes, so the wait may end before the election shows (rare: the
    wait is a convenience, the election itself is committed)."""
    for (name, pid), epoch in epochs.items():
        topic = image.topics.by_name.get(name)
        partition = topic.partitions.get(pid) if topic is not None else None
        if partition is not None and partition.leader_epoch <= epoch:
            return False
    return True


def register(registry: Any, broker: BrokerServer) -> None:
    for api_key, (lo, hi) in FORWARDED.items():
        registry.register(api_key, lo, hi, partial(forward, broker))
