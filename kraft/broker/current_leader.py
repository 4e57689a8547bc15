"""The leader hint a Produce or Fetch error carries (KIP-951).

When a partition answers NOT_LEADER_OR_FOLLOWER (Produce v10+, Fetch v16+) or
FENCED_LEADER_EPOCH (Fetch v16+), Kafka adds the leader and leader epoch this
broker's metadata knows for it, and the response lists that leader's endpoint
on the listener the request came in on (`node_endpoints`). A client moves its
produce or fetch to the new leader at once instead of waiting for a metadata
refresh, which is most of a client's share of a failover.

As Kafka's KafkaApis.getCurrentLeader: an unknown partition is leader -1,
epoch -1; an endpoint is listed only for an unfenced broker that advertises
the listener.
"""

from __future__ import annotations

import uuid
from typing import Any

from kraft.metadata.image import MetadataImage, TopicImage


class LeaderHints:
    """Collects the leaders named in one response and the endpoints to list."""

    __slots__ = ("_endpoints", "_image", "_listener")

    def __init__(self, image: MetadataImage, listener: str) -> None:
        self._image = image
        self._listener = listener
        self._endpoints: dict[int, tuple[str, int, str | None]] = {}

    def topic(self, key: str | uuid.UUID) -> TopicImage | None:
        """The topic a response names, by name or (Fetch v13+, Produce v13+) by id."""
        topics = self._image.topics
        return topics.by_id.get(key) if isinstance(key, uuid.UUID) else topics.by_name.get(key)

    def leader(self, topic: TopicImage | None, index: int) -> tuple[int, int]:
        """(leader id, leader epoch) for the partition, noting the leader's endpoint."""
        registration = topic.partitions.get(index) if topic is not None else None
        if registration is None:
            return -1, -1
        broker = self._image.cluster.brokers.get(registration.leader)
        if broker is not None and not broker.fenced:
            endpoint = broker.endpoint(self._listener)
            if endpoint is not None:
                self._endpoints[broker.broker_id] = (endpoint.host, endpoint.port, broker.rack)
        return registration.leader, registration.leader_epoch

    def node_endpoints(self, endpoint_cls: Any) -> tuple[Any, ...]:
        """The `node_endpoints` of the response: one per leader named, sorted by id."""
        return tuple(endpoint_cls(node_id=node_id, host=host, port=port, rack=rack)
                     for node_id, (host, port, rack) in sorted(self._endpoints.items()))
