"""Fetch (key 1), versions 4-17: consumers reading partitions this broker leads.

Per partition, in Kafka's order: the topic must exist (UNKNOWN_TOPIC_OR_PARTITION,
or UNKNOWN_TOPIC_ID for v13+ topic ids) and be led here (NOT_LEADER_OR_FOLLOWER);
a current leader epoch (v9+, KIP-320) older than ours is FENCED_LEADER_EPOCH,
newer UNKNOWN_LEADER_EPOCH; a last fetched epoch (v12+) whose end offset in
our epoch history lies below the fetch offset yields a DivergingEpoch and no
records (KIP-595/KIP-320 truncation detection); a fetch offset outside
[log start, log end] is OFFSET_OUT_OF_RANGE.

Records come from the log up to the high watermark (read_uncommitted) or the
last stable offset (read_committed), which equals the high watermark while
there are no transactions. A read_committed answer lists the aborted
transactions (producer id, first offset) overlapping the records returned,
from the segments' aborted-transaction indexes (log.txnindex), so the
consumer drops their records; every answer carries the last stable offset.
Sizes: each partition gets at most its partition_max_bytes and the response
at most max_bytes capped to the broker's fetch.max.bytes (and min_bytes to
that cap, Kafka's KafkaApis.handleFetchRequest, for followers too), except
that the first partition with data always gets its first whole batch
(Kafka's minOneMessage), so one large batch cannot stall a consumer.

Long poll: while fewer than min_bytes are available and max_wait has not
passed, the request waits as a delayed operation in the broker's purgatory
(Kafka's DelayedFetch): whenever one of its partitions changes (an append,
a high watermark or leadership move) it checks, without reading any data or
changing any state, whether a read would now return min_bytes or an error;
once it would, or at max_wait, the partitions are read again and answered.

Fetch sessions (KIP-227, v7+): kraft.broker.fetch_session decides which
partitions a request reads (the session's, for an incremental request) and
which results its answer carries; FETCH_SESSION_ID_NOT_FOUND and
INVALID_FETCH_SESSION_EPOCH answer the whole request with no partitions.

Follower fetches (replica id >= 0, kraft/broker/fetcher.py on the other
side) read up to the log end offset instead of the high watermark (no records
for a throttled partition while the leader's replication quota is exceeded and
the follower is not in sync: kraft.broker.replication_quota), and
report the follower's position: the leader records it
(`Partition.update_follower_fetch_state`), which may move the high watermark
(completing acks=all produces) and add the follower to the ISR
(kraft/broker/isr.py). Only a replica of the partition may fetch as a
follower (CVE-2018-1288: an ordinary client posing as one could disturb
replication); anyone else gets NOT_LEADER_OR_FOLLOWER.

ACLs (Kafka's handleFetchRequest): a follower needs CLUSTER_ACTION on the
cluster, a consumer READ on each topic; a partition denied is
TOPIC_AUTHORIZATION_FAILED, decided before whether the topic exists (an
unknown topic id stays UNKNOWN_TOPIC_ID: no name to decide on).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.current_leader import LeaderHints
from kraft.broker.fetch_session import FetchContext
from kraft.broker.partition import Partition
from kraft.log.batch import iter_batches
from kraft.log.errors import OffsetOutOfRangeError
from kraft.metadata.image import MetadataImage
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation

READ_COMMITTED = 1
_LEADER_HINT_ERRORS = (ErrorCode.not_leader_or_follower, ErrorCode.fenced_leader_epoch)


class _Read:
    __slots__ = ("aborted", "diverging", "error", "high_watermark", "last_stable_offset",
                 "log_start_offset", "partition", "records", "size")

    def __init__(self, error: ErrorCode = ErrorCode.none) -> None:
        self.error = error
        self.high_watermark = -1
        self.last_stable_offset = -1
        self.log_start_offset = -1
        self.aborted: list[tuple[int, int]] = []  # (producer id, first offset)
        self.records: bytes = b""  # not read by a probe
        self.size = 0  # bytes the read returns
        self.diverging: tuple[int, int] | None = None
        self.partition: Partition | None = None


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    version = header.api_version
    by_id = version >= 13
    if version >= 7:
        context = broker.fetch_sessions.new_context(request, by_id, trio.current_time())
        if isinstance(context, ErrorCode):
            return build(cls, throttle_time=timedelta(0), error_code=context, session_id=0,
                         responses=())
    else:
        context = FetchContext(
            [((t.topic, p.partition), p) for t in request.topics for p in t.partitions],
            None, incremental=False)
    requested = context.partitions()
    replica = _replica(request, version)
    max_bytes = min(request.max_bytes, broker.config.fetch_max_bytes)
    min_bytes = min(request.min_bytes, max_bytes)
    # Followers need CLUSTER_ACTION (else every partition is TOPIC_AUTHORIZATION_FAILED),
    # consumers READ on each topic, as Kafka's handleFetchRequest.
    readable = (broker.access.checker(ctx, AclOperation.READ) if replica[0] < 0
                else _all if broker.access.cluster(ctx, AclOperation.CLUSTER_ACTION) else _none)
    deadline = trio.current_time() + max(request.max_wait.total_seconds(), 0)
    reads = _read_all(broker, broker.image, requested, request, max_bytes, by_id, replica,
                      readable)
    if not _complete(reads, min_bytes) and trio.current_time() < deadline:
        watched = [r.partition.key for _, parts in reads for _, r in parts if r.partition]

        def try_complete() -> bool:
            probe = _read_all(broker, broker.image, requested, request, max_bytes, by_id,
                              replica, readable, probe=True)
            return _complete(probe, min_bytes)

        if watched:
            await broker.replica_manager.purgatory.wait(watched, try_complete, deadline)
        else:
            await trio.sleep_until(deadline)
        reads = _read_all(broker, broker.image, requested, request, max_bytes, by_id, replica,
                          readable)
    return _response(cls, request, context.answer(reads), context.session_id,
                     LeaderHints(broker.image, ctx.listener) if version >= 16 else None,
                     replica[0] >= 0)


def _all(name: str) -> bool:
    return True


def _none(name: str) -> bool:
    return False


def _complete(reads: list[tuple[Any, list[tuple[int, _Read]]]], min_bytes: int) -> bool:
    """The fetch can be answered now: min_bytes are there, or a partition has an
    error or a diverging epoch to report."""
    total = sum(r.size for _, parts in reads for _, r in parts)
    # A denied partition does not end the long poll (Kafka answers it beside the
    # fetch of the others).
    errors = any(r.error not in (ErrorCode.none, ErrorCode.topic_authorization_failed)
                 or r.diverging for _, p in reads for _, r in p)
    return total >= min_bytes or errors


def _replica(request: Any, version: int) -> tuple[int, int]:
    """(replica id, broker epoch) of a follower; (-1, -1) for a consumer."""
    if version >= 15:
        return request.replica_state.replica_id, request.replica_state.replica_epoch
    return request.replica_id, -1


def _read_all(
    broker: BrokerContext, image: MetadataImage, requested: list[tuple[Any, list[Any]]],
    request: Any, max_bytes: int, by_id: bool, replica: tuple[int, int],
    readable: Callable[[str], bool], *, probe: bool = False,
) -> list[tuple[Any, list[tuple[int, _Read]]]]:
    """Read every requested partition, `max_bytes` in all (beyond the first batch); a
    `probe` only sizes what a read would return: it reads no records and records no
    follower's position."""
    remaining = max_bytes
    out = []
    for key, fetch_partitions in requested:
        topic = image.topics.by_id.get(key) if by_id else image.topics.by_name.get(key)
        parts = []
        name = topic.name if topic is not None else None if by_id else key
        for fp in fetch_partitions:
            if name is not None and not readable(name):
                parts.append((fp.partition, _Read(ErrorCode.topic_authorization_failed)))
                continue
            if topic is None or fp.partition not in topic.partitions:
                code = (ErrorCode.unknown_topic_id if by_id and topic is None
                        else ErrorCode.unknown_topic_or_partition)
                parts.append((fp.partition, _Read(code)))
                continue
            partition = broker.replica_manager.get_by_id(topic.topic_id, fp.partition)
            read = _read_partition(broker, partition, fp, request, remaining,
                                   remaining == max_bytes, replica, probe)
            remaining -= read.size
            parts.append((fp.partition, read))
        out.append((key, parts))
    return out


def _read_partition(
    broker: BrokerContext,
    partition: Partition | None,
    fp: Any,
    request: Any,
    remaining: int,
    first: bool,
    replica: tuple[int, int],
    probe: bool,
) -> _Read:
    """One partition's read, at most `remaining` bytes (and its partition_max_bytes),
    but its first whole batch when it is the `first` to return data."""
    replica_id, replica_epoch = replica
    if partition is None or not partition.is_leader:
        return _Read(ErrorCode.not_leader_or_follower)
    if replica_id >= 0 and replica_id not in partition.replicas:
        return _Read(ErrorCode.not_leader_or_follower)
    epoch_error = partition.leader_epoch_error(getattr(fp, "current_leader_epoch", -1))
    if epoch_error is not None:
        return _Read(epoch_error)
    read = _Read()
    read.partition = partition
    read.high_watermark = partition.high_watermark
    read.last_stable_offset = partition.last_stable_offset
    read.log_start_offset = partition.log_start_offset
    read_committed = request.isolation_level == READ_COMMITTED
    last_fetched_epoch = getattr(fp, "last_fetched_epoch", -1)
    if last_fetched_epoch >= 0:
        epoch, end_offset = partition.log.end_offset_for_epoch(last_fetched_epoch)
        if epoch < 0 or end_offset < 0:
            # An epoch newer than any this log has seen: no end offset to
            # compare with, so Kafka answers OFFSET_OUT_OF_RANGE.
            read.error = ErrorCode.offset_out_of_range
            read.partition = None
            read.high_watermark = read.last_stable_offset = read.log_start_offset = -1
            return read
        if epoch < last_fetched_epoch or end_offset < fp.fetch_offset:
            read.diverging = (epoch, end_offset)
            return read
    max_bytes = min(fp.partition_max_bytes, max(remaining, 0))
    quota = broker.leader_quota if replica_id >= 0 else None
    throttled = quota is not None and quota.is_throttled(partition.topic, partition.partition)
    try:
        if replica_id >= 0:
            if not partition.log_start_offset <= fp.fetch_offset <= partition.log_end_offset:
                raise OffsetOutOfRangeError(fp.fetch_offset, partition.log_start_offset,
                                            partition.log_end_offset)
            if not probe:
                partition.update_follower_fetch_state(replica_id, fp.fetch_offset,
                                                      int(trio.current_time() * 1000),
                                                      getattr(fp, "log_start_offset", -1))
                broker.isr.maybe_expand(partition, replica_id, replica_epoch)
                read.high_watermark = partition.high_watermark
            if (throttled and quota is not None and replica_id not in partition.isr
                    and quota.is_exceeded()):
                return read  # Kafka's shouldLeaderThrottle: no records over the quota
            data = partition.log.read(fp.fetch_offset, max_bytes, min_one_message=first)
        else:
            data = partition.read(fp.fetch_offset, max_bytes, min_one_message=first,
                                  read_committed=read_committed)
    except OffsetOutOfRangeError:
        read.error = ErrorCode.offset_out_of_range
        read.partition = None
        if replica_id < 0:
            # Kafka answers a consumer's out-of-range fetch with -1 for all
            # three offsets. A follower keeps the real values: our fetcher
            # (kraft/broker/fetcher.py) restarts or truncates from them where
            # Kafka's asks again with ListOffsets.
            read.high_watermark = read.last_stable_offset = read.log_start_offset = -1
        return read
    if probe:
        read.size = data.size
    else:
        read.records = data.to_bytes()
        read.size = len(read.records)
        if throttled and quota is not None:
            quota.record(read.size)
        if read_committed and replica_id < 0 and read.records:
            read.aborted = _aborted_transactions(partition, fp.fetch_offset, read.records)
    return read


def _aborted_transactions(
    partition: Partition, fetch_offset: int, records: bytes
) -> list[tuple[int, int]]:
    """(producer id, first offset) of the aborted transactions overlapping the whole
    batches in `records` (a cut last batch is not the consumer's to read yet)."""
    upper = -1
    for _, header in iter_batches(records, allow_partial_tail=True):
        upper = header.next_offset
    if upper < 0:
        return []
    return [(t.producer_id, t.first_offset)
            for t in partition.collect_aborted_txns(fetch_offset, upper)]


def _response(cls: type, request: Any, reads: list[tuple[Any, list[tuple[int, _Read]]]],
              session_id: int, hints: LeaderHints | None, from_follower: bool) -> Any:
    """The FetchResponse; with `hints` (v16+), NOT_LEADER_OR_FOLLOWER and
    FENCED_LEADER_EPOCH partitions name the current leader (KIP-951)."""
    topic_cls = nested(cls, "FetchableTopicResponse")
    partition_cls = nested(cls, "PartitionData")
    epoch_cls = _optional(cls, "EpochEndOffset")
    aborted_cls = nested(cls, "AbortedTransaction")
    read_committed = request.isolation_level == READ_COMMITTED
    topics = []
    for key, parts in reads:
        topic = None
        if hints is not None:
            topic = hints.topic(key)
        partitions = []
        for index, r in parts:
            fields: dict[str, Any] = {}
            if r.diverging is not None and epoch_cls is not None:
                fields["diverging_epoch"] = epoch_cls(epoch=r.diverging[0],
                                                      end_offset=r.diverging[1])
            if hints is not None and r.error in _LEADER_HINT_ERRORS:
                leader_id, leader_epoch = hints.leader(topic, index)
                fields["current_leader"] = nested(cls, "LeaderIdAndEpoch")(
                    leader_id=leader_id, leader_epoch=leader_epoch)
            # Kafka lists aborted transactions for a read_committed read; a
            # partition unknown to the metadata gets an empty list, every other
            # answer (read_uncommitted, or an error from the read) null.
            if r.error in (ErrorCode.unknown_topic_or_partition, ErrorCode.unknown_topic_id):
                aborted: tuple[Any, ...] | None = ()
            elif r.error == ErrorCode.none and read_committed:
                aborted = tuple(aborted_cls(producer_id=pid, first_offset=first)
                                for pid, first in r.aborted)
            else:
                aborted = None
            partitions.append(
                build(
                    partition_cls,
                    partition_index=index,
                    error_code=r.error,
                    high_watermark=r.high_watermark,
                    last_stable_offset=r.last_stable_offset,
                    log_start_offset=r.log_start_offset,
                    aborted_transactions=aborted,
                    preferred_read_replica=-1,
                    # Never null: librdkafka cannot parse a null record set and
                    # would not see the error (Kafka sends MemoryRecords.EMPTY).
                    records=r.records if r.error == ErrorCode.none else b"",
                    **fields,
                )
            )
        name = key if isinstance(key, str) else None
        topic_id = key if isinstance(key, uuid.UUID) else None
        topics.append(build(topic_cls, topic=name, topic_id=topic_id, partitions=tuple(partitions)))
    extra: dict[str, Any] = {}
    if hints is not None and not from_follower:
        # Kafka lists the leaders' endpoints for consumers only.
        extra["node_endpoints"] = hints.node_endpoints(nested(cls, "NodeEndpoint"))
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 session_id=session_id, responses=tuple(topics), **extra)


def _optional(cls: type, name: str) -> Any:
    try:
        return nested(cls, name)
    except AttributeError:
        return None
