"""Writing a transaction's markers: WriteTxnMarkers to its partitions' leaders
(Kafka's TransactionMarkerChannelManager and its completion handler).

`MarkerSender.write` sends one marker per partition, grouped by the leader
the current metadata names, all leaders at once, and retries what is not
written yet every RETRY_BACKOFF_S until every partition has it:

* NONE: written (and replicated: the leader answers after acks=all).
* NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS(
  _AFTER_APPEND), REQUEST_TIMED_OUT, KAFKA_STORAGE_ERROR, a connection
  failure, a partition without a leader: retried, at the leader the metadata
  names then (leader changes, a broker restarting).
* A partition whose topic was deleted: dropped (nothing left to mark).
* INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED: this coordinator is
  stale (a newer one has taken over the transaction): `write` returns False
  and the caller stops; the new coordinator completes the transaction.
* Anything else (e.g. UNSUPPORTED_VERSION): logged and dropped, as Kafka does.

`write` also returns False as soon as `still_current()` is false (the
coordinator lost its `__transaction_state` partition).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import trio
from kio.schema.errors import ErrorCode
from kio.schema.types import ProducerId, TopicName
from kio.schema.write_txn_markers.v1 import request as markers_v1
from kio.static.primitive import i16, i32

from kraft.metadata.image import MetadataImage
from kraft.net.client import ConnectionFailed, KafkaClient, UnsupportedVersion

log = logging.getLogger("kraft.broker.txn")

RETRY_BACKOFF_S = 0.1
REQUEST_TIMEOUT_S = 30.0
TopicPartition = tuple[str, int]
RETRIABLE = frozenset({
    ErrorCode.not_leader_or_follower, ErrorCode.unknown_topic_or_partition,
    ErrorCode.not_enough_replicas, ErrorCode.not_enough_replicas_after_append,
    ErrorCode.request_timed_out, ErrorCode.kafka_storage_error,
})
FENCED = frozenset({ErrorCode.invalid_producer_epoch, ErrorCode.transaction_coordinator_fenced})


class MarkerSender:
    """Sends markers over the inter-broker listener (`run` must be running)."""

    def __init__(self, node_id: int, image: Callable[[], MetadataImage], listener: str) -> None:
        self.node_id = node_id
        self.image = image
        self.listener = listener
        self.client: KafkaClient | None = None

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with KafkaClient(f"txn-markers-{self.node_id}") as client:
            self.client = client
            task_status.started()
            await trio.sleep_forever()

    async def write(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        partitions: Iterable[TopicPartition],
        still_current: Callable[[], bool],
    ) -> bool:
        """Write the marker to every partition; True once all have it (see module doc)."""
        pending = set(partitions)
        while pending:
            if not still_current():
                return False
            image = self.image()
            by_leader: dict[int, list[TopicPartition]] = {}
            for tp in sorted(pending):
                topic = image.topics.by_name.get(tp[0])
                registration = None if topic is None else topic.partitions.get(tp[1])
                if registration is None:
                    pending.discard(tp)  # the topic is gone
                elif registration.leader >= 0:
                    by_leader.setdefault(registration.leader, []).append(tp)
            results: dict[TopicPartition, ErrorCode] = {}
            async with trio.open_nursery() as nursery:
                for leader, tps in by_leader.items():
                    nursery.start_soon(self._send, leader, tps, producer_id, producer_epoch,
                                       coordinator_epoch, commit, results)
            for tp, error in results.items():
                if error == ErrorCode.none:
                    pending.discard(tp)
                elif error in FENCED:
                    log.info("markers of producer %d: %s at %s-%d; a newer coordinator "
                             "completes the transaction", producer_id, error.name, *tp)
                    return False
                elif error not in RETRIABLE:
                    log.error("markers of producer %d: %s at %s-%d; dropped", producer_id,
                              error.name, *tp)
                    pending.discard(tp)
            if pending:
                await trio.sleep(RETRY_BACKOFF_S)
        return True

    async def _send(
        self, leader: int, partitions: list[TopicPartition], producer_id: int,
        producer_epoch: int, coordinator_epoch: int, commit: bool,
        results: dict[TopicPartition, ErrorCode],
    ) -> None:
        registration = self.image().cluster.brokers.get(leader)
        endpoint = None if registration is None else registration.endpoint(self.listener)
        if endpoint is None or self.client is None:
            return
        by_topic: dict[str, list[int]] = {}
        for topic, index in partitions:
            by_topic.setdefault(topic, []).append(index)
        request = markers_v1.WriteTxnMarkersRequest(markers=(markers_v1.WritableTxnMarker(
            producer_id=ProducerId(producer_id), producer_epoch=i16(producer_epoch),
            transaction_result=commit, coordinator_epoch=i32(coordinator_epoch),
            topics=tuple(markers_v1.WritableTxnMarkerTopic(
                name=TopicName(t), partition_indexes=tuple(i32(p) for p in ps))
                         for t, ps in by_topic.items())),))
        try:
            response = await self.client.request((endpoint.host, endpoint.port), request,
                                                 REQUEST_TIMEOUT_S)
        except (ConnectionFailed, UnsupportedVersion, OSError) as e:
            log.info("markers to broker %d: %s; retrying", leader, e)
            return
        for marker in response.markers:
            for topic in marker.topics:
                for p in topic.partitions:
                    results[(topic.name, p.partition_index)] = p.error_code
