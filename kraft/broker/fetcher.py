"""Replica fetchers: followers pull their partitions' data from the leaders.

Kafka's ReplicaFetcherManager / ReplicaFetcherThread, on trio. One fetcher
task per source broker, holding every partition this broker follows on it,
all in one Fetch request (partitions batched, one connection per source
broker from the fetchers' own client, so a long poll never delays the
controller channel). The replica manager calls `follow` whenever the
metadata log names a (new) leader or epoch for a partition we follow, and
`unfollow` when we lead it or no longer host it.

Per partition each Fetch carries: our replica id and broker epoch, the
current leader epoch (a leader of another epoch answers FENCED_LEADER_EPOCH
or UNKNOWN_LEADER_EPOCH, and we wait for the metadata to catch up), the
fetch offset (our log end offset) and the epoch of our last record, so the
leader can tell where our history diverges from its own (KIP-320/KIP-595).
The leader answers with

- records: appended as follower (the leader's offsets and epochs kept),
  their producers recorded, the high watermark taken from the leader;
- a DivergingEpoch (epoch, end offset): we truncate to the smaller of that
  end offset and our own end offset for that epoch (never guessing: both
  come from epoch caches), then fetch again, which finds any further
  divergence the same way;
- OFFSET_OUT_OF_RANGE below the leader's log start: our log restarts empty
  at the leader's log start offset.

After a truncation the replica manager checkpoints the recovery point at
once, so a crash cannot resurrect the removed tail as trusted data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker.partition import Partition
from kraft.broker.replication_quota import ReplicationQuota
from kraft.log.errors import UnexpectedAppendOffsetError
from kraft.metadata.image import MetadataImage
from kraft.net.client import ConnectionFailed, KafkaClient, UnsupportedVersion
from kraft.net.codec import InvalidRequest, request_type
from kraft.net.messages import build, nested
from kraft.net.security import ClientSecurity

log = logging.getLogger("kraft.broker")

Address = tuple[str, int]
FETCH_KEY = 1
MAX_FETCH_VERSION = 17
REQUEST_TIMEOUT_S = 30.0  # replica.socket.timeout.ms
_RETRY_LATER = (
    ErrorCode.not_leader_or_follower,
    ErrorCode.fenced_leader_epoch,
    ErrorCode.unknown_leader_epoch,
    ErrorCode.unknown_topic_or_partition,
    ErrorCode.unknown_topic_id,
    ErrorCode.kafka_storage_error,
)


@dataclass(slots=True)
class _Fetching:
    partition: Partition
    leader_epoch: int
    delayed_until: float = 0.0
    in_sync: bool = False  # caught up to the leader's high watermark at the last fetch


class ReplicaFetcherManager:
    """The fetcher tasks of one broker, one per source broker."""

    def __init__(
        self,
        node_id: int,
        broker_epoch: Callable[[], int],
        image: Callable[[], MetadataImage],
        listener_name: str,
        on_truncated: Callable[[Partition], None],
        *,
        max_wait_ms: int = 500,
        min_bytes: int = 1,
        partition_max_bytes: int = 1048576,
        response_max_bytes: int = 10485760,
        backoff_ms: int = 1000,
        response_timeout_ms: int = 3000,
        security: ClientSecurity | None = None,
        quota: ReplicationQuota | None = None,
    ) -> None:
        """`response_timeout_ms`: how long past `max_wait_ms` a fetch may go
        unanswered before its connection is closed (the request fails, the
        next fetch opens a new connection); at most REQUEST_TIMEOUT_S in all."""
        self.node_id = node_id
        self.security = security  # how to reach the leaders' inter-broker listener
        self.quota = quota  # the follower side's replication throttle
        self.client: KafkaClient | None = None
        self.broker_epoch = broker_epoch
        self.image = image
        self.listener_name = listener_name
        self.on_truncated = on_truncated
        self.max_wait_ms = max_wait_ms
        self.min_bytes = min_bytes
        self.partition_max_bytes = partition_max_bytes
        self.response_max_bytes = response_max_bytes
        self.backoff_s = backoff_ms / 1000
        self.request_timeout_s = min(REQUEST_TIMEOUT_S,
                                     (max_wait_ms + response_timeout_ms) / 1000)
        self._fetchers: dict[int, _Fetcher] = {}
        self._by_partition: dict[tuple[uuid.UUID, int], int] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with KafkaClient(f"replica-fetcher-{self.node_id}",
                                security=self.security) as client, \
                trio.open_nursery() as nursery:
            self.client = client
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def follow(self, partition: Partition) -> None:
        """Fetch `partition` from its current leader at its current leader epoch."""
        key = (partition.topic_id, partition.partition)
        leader = partition.leader_id
        self.unfollow(partition)
        if leader < 0 or leader == self.node_id:
            return
        fetcher = self._fetchers.get(leader)
        if fetcher is None:
            assert self._nursery is not None, "ReplicaFetcherManager.run is not running"
            fetcher = self._fetchers[leader] = _Fetcher(self, leader)
            self._nursery.start_soon(fetcher.run)
        fetcher.partitions[key] = _Fetching(partition, partition.leader_epoch)
        fetcher.wake()
        self._by_partition[key] = leader

    def unfollow(self, partition: Partition) -> None:
        key = (partition.topic_id, partition.partition)
        leader = self._by_partition.pop(key, None)
        if leader is None:
            return
        fetcher = self._fetchers.get(leader)
        if fetcher is not None:
            fetcher.partitions.pop(key, None)
            if not fetcher.partitions:
                fetcher.stop()
                del self._fetchers[leader]

    def address_of(self, broker_id: int) -> Address | None:
        registration = self.image().cluster.brokers.get(broker_id)
        endpoint = None if registration is None else registration.endpoint(self.listener_name)
        return None if endpoint is None else (endpoint.host, endpoint.port)


class _Fetcher:
    """Fetches every partition this broker follows on `leader_id`."""

    def __init__(self, manager: ReplicaFetcherManager, leader_id: int) -> None:
        self.manager = manager
        self.leader_id = leader_id
        self.partitions: dict[tuple[uuid.UUID, int], _Fetching] = {}
        self._wake = trio.Event()
        self._cancel = trio.CancelScope()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._cancel.cancel()

    async def run(self) -> None:
        with self._cancel:
            while True:
                ready = {k: f for k, f in self.partitions.items()
                         if f.delayed_until <= trio.current_time()}
                if not ready:
                    soonest = min((f.delayed_until for f in self.partitions.values()),
                                  default=trio.current_time() + 1)
                    with trio.move_on_at(soonest):
                        await self._wake.wait()
                    self._wake = trio.Event()
                    continue
                if not await self._fetch_once(ready):
                    await trio.sleep(self.manager.backoff_s)

    async def _fetch_once(self, fetching: dict[tuple[uuid.UUID, int], _Fetching]) -> bool:
        manager = self.manager
        address = manager.address_of(self.leader_id)
        if address is None:
            return False
        assert manager.client is not None
        fetching = self._unthrottled(fetching)
        if not fetching:
            return True  # each waits out its delay (the run loop sleeps until the soonest)
        try:
            conn = await manager.client.connection(address)
            version = conn.pick_version(FETCH_KEY, MAX_FETCH_VERSION)
            request = self._request(version, fetching)
            # A fetch is answered within max_wait_ms by a leader that is alive and
            # reachable; waiting much longer only holds on to a connection that a
            # network partition may have left dead (Connection closes it on timeout).
            response = await conn.request(request, manager.request_timeout_s)
        except (ConnectionFailed, UnsupportedVersion, InvalidRequest) as e:
            log.debug("node %d: fetch from broker %d failed: %s", manager.node_id,
                      self.leader_id, e)
            return False
        if response.error_code != ErrorCode.none:
            log.info("node %d: fetch from broker %d: %s", manager.node_id, self.leader_id,
                     response.error_code.name)
            return False
        for topic in response.responses:
            for data in topic.partitions:
                state = fetching.get((topic.topic_id, data.partition_index))
                # Only if still fetched from this leader at the same epoch.
                if state is not None and self.partitions.get(
                    (topic.topic_id, data.partition_index)
                ) is state:
                    self._handle(state, data)
        return True

    def _unthrottled(
        self, fetching: dict[tuple[uuid.UUID, int], _Fetching]
    ) -> dict[tuple[uuid.UUID, int], _Fetching]:
        """Kafka's shouldFollowerThrottle: a throttled partition not in sync is left
        out of this fetch while the follower quota is exceeded (asked again after the
        fetch backoff)."""
        quota = self.manager.quota
        if quota is None:
            return fetching
        kept = {}
        for key, state in fetching.items():
            p = state.partition
            if quota.should_throttle(p.topic, p.partition, state.in_sync):
                state.delayed_until = trio.current_time() + self.manager.backoff_s
            else:
                kept[key] = state
        return kept

    def _request(self, version: int, fetching: dict[tuple[uuid.UUID, int], _Fetching]) -> Any:
        manager = self.manager
        cls = request_type(FETCH_KEY, version)
        assert cls is not None
        topic_cls, partition_cls = nested(cls, "FetchTopic"), nested(cls, "FetchPartition")
        by_topic: dict[uuid.UUID, list[Any]] = {}
        for (topic_id, index), state in fetching.items():
            log_ = state.partition.log
            by_topic.setdefault(topic_id, []).append(build(
                partition_cls, partition=index, current_leader_epoch=state.leader_epoch,
                fetch_offset=log_.log_end_offset,
                last_fetched_epoch=log_.latest_epoch if log_.latest_epoch is not None else -1,
                log_start_offset=log_.log_start_offset,
                partition_max_bytes=manager.partition_max_bytes,
            ))
        replica_epoch = manager.broker_epoch()
        return build(
            cls,
            replica_id=manager.node_id,
            replica_state=nested(cls, "ReplicaState")(
                replica_id=manager.node_id, replica_epoch=replica_epoch
            ) if version >= 15 else None,
            max_wait=timedelta(milliseconds=manager.max_wait_ms),
            min_bytes=manager.min_bytes,
            max_bytes=manager.response_max_bytes,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,  # FINAL_EPOCH: no fetch session, full requests
            topics=tuple(build(topic_cls, topic_id=t, partitions=tuple(ps))
                         for t, ps in by_topic.items()),
            forgotten_topics_data=(),
            rack_id="",
        )

    def _handle(self, state: _Fetching, data: Any) -> None:
        partition = state.partition
        error = data.error_code
        node = self.manager.node_id
        if error in _RETRY_LATER:
            state.delayed_until = trio.current_time() + self.manager.backoff_s
            return
        if error == ErrorCode.offset_out_of_range:
            self._out_of_range(partition, data)
            return
        if error != ErrorCode.none:
            log.warning("node %d: fetching %s from broker %d: %s", node, partition.name,
                        self.leader_id, error.name)
            state.delayed_until = trio.current_time() + self.manager.backoff_s
            return
        diverging = data.diverging_epoch
        if diverging.epoch >= 0 or diverging.end_offset >= 0:
            self._truncate_on_divergence(partition, diverging.epoch, diverging.end_offset)
            return
        if data.records:
            view = memoryview(data.records)
            try:
                info = partition.append_as_follower(view)
            except UnexpectedAppendOffsetError as e:
                if e.first_offset > partition.log_end_offset:
                    log.info("node %d: %s restarts at the leader's offset %d", node,
                             partition.name, e.first_offset)
                    partition.truncate_fully_and_start_at(e.first_offset)
                    self.manager.on_truncated(partition)
                    info = partition.append_as_follower(view)
                else:
                    log.warning("node %d: %s: %s", node, partition.name, e)
                    state.delayed_until = trio.current_time() + self.manager.backoff_s
                    return
            if info.error_code != 0:
                # Bytes from the leader that do not validate: do not take its high
                # watermark, and do not spin on the same offset.
                log.warning("node %d: %s: records from broker %d rejected: %s (%s)", node,
                            partition.name, self.leader_id, ErrorCode(info.error_code).name,
                            info.error_message)
                state.delayed_until = trio.current_time() + self.manager.backoff_s
                return
            quota = self.manager.quota
            if quota is not None and quota.is_throttled(partition.topic, partition.partition):
                quota.record(len(data.records))
        state.in_sync = partition.log_end_offset >= data.high_watermark
        partition.update_follower_high_watermark(data.high_watermark)
        leader_log_start = data.log_start_offset
        if leader_log_start > partition.log_start_offset:
            partition.log.delete_records_before(min(leader_log_start, partition.log_end_offset))

    def _truncate_on_divergence(self, partition: Partition, epoch: int, end_offset: int) -> None:
        local_epoch, local_end = partition.log.end_offset_for_epoch(epoch)
        if local_epoch < 0:
            target = min(end_offset, partition.log_end_offset)
        else:
            target = min(end_offset, local_end)
        log.info("node %d: %s diverges from leader %d at epoch %d: truncating to %d",
                 self.manager.node_id, partition.name, self.leader_id, epoch, target)
        partition.truncate_to(max(target, 0))
        self.manager.on_truncated(partition)

    def _out_of_range(self, partition: Partition, data: Any) -> None:
        node = self.manager.node_id
        leader_start = data.log_start_offset
        if 0 <= partition.log_end_offset < leader_start:
            log.info("node %d: %s is behind the leader's log start %d: restarting there",
                     node, partition.name, leader_start)
            partition.truncate_fully_and_start_at(leader_start)
        else:
            target = max(min(data.high_watermark, partition.log_end_offset), 0)
            log.warning("node %d: %s is ahead of leader %d: truncating to its high "
                        "watermark %d", node, partition.name, self.leader_id, target)
            partition.truncate_to(target)
        self.manager.on_truncated(partition)
