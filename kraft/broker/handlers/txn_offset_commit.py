"""TxnOffsetCommit (key 28), versions 0-5: a transactional producer commits a
consumer group's offsets inside its transaction (KIP-98, KIP-447, KIP-890).

Sent to the group's coordinator after AddOffsetsToTxn (v0-v4). v5 is
transaction version 2: the client sends no AddOffsetsToTxn, and the group
coordinator first adds the group's `__consumer_offsets` partition to the
transaction at the transaction coordinator (kraft.broker.txn.verification);
its errors are mapped as Kafka's (retriable ones COORDINATOR_NOT_AVAILABLE,
PRODUCER_FENCED INVALID_PRODUCER_EPOCH) and nothing is written then. Per partition: the
topic and partition must exist (UNKNOWN_TOPIC_OR_PARTITION); the group
checks are OffsetCommit's (kraft.broker.group.api.txn_commit_offsets):
COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS,
and from v3 (KIP-447) a generation, member id or group instance id that is
not the group's current one is ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID /
FENCED_INSTANCE_ID, so a zombie of a rebalanced consumer cannot commit.
The offsets are written to `__consumer_offsets` as a transactional batch of
the producer (an older producer epoch there is INVALID_PRODUCER_EPOCH) and
stay pending -- invisible to OffsetFetch, UNSTABLE_OFFSET_COMMIT with
require_stable -- until the transaction's marker commits or aborts them.

KIP-890 part 1 for v0-v4 (`transaction.partition.verification.enable`, as
Kafka's CoordinatorPartitionWriter): unless the producer's transaction is
already ongoing on the group's `__consumer_offsets` partition, the transaction
coordinator is asked (verify-only AddPartitionsToTxn) whether AddOffsetsToTxn
added that partition to the transaction; if not, nothing is written and every
partition gets INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v4, KIP-1050's
generic error). The write then carries the verification guard, so a
transaction that ended meanwhile cannot be begun again by this commit (a
hanging transaction on `__consumer_offsets`). Verification errors are
reported as Kafka's coordinator runtime does (NETWORK_EXCEPTION as
COORDINATOR_LOAD_IN_PROGRESS, the append errors as the group APIs report
them).

Not done: the GROUP READ / TRANSACTIONAL_ID WRITE authorizations.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import acl_checks
from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.broker.group.shard import coordinator_error
from kraft.broker.internal_topics import GROUP_METADATA_TOPIC, partition_for
from kraft.broker.producer_state import NOT_REQUIRED, NotRequired, VerificationGuard
from kraft.broker.txn import verification
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    image = broker.image
    answers: dict[tuple[str, int], ErrorCode] = {}
    entries: list[api.OffsetCommitEntry] = []
    denied = acl_checks.transaction(broker.access, ctx, request.transactional_id,
                                    request.group_id)
    readable = broker.access.checker(ctx, AclOperation.READ)
    for topic in request.topics:
        known = image.topics.by_name.get(topic.name)
        for p in topic.partitions:
            if denied is not None:
                answers[(topic.name, p.partition_index)] = denied
            elif not readable(topic.name):
                answers[(topic.name, p.partition_index)] = ErrorCode.topic_authorization_failed
            elif known is None or p.partition_index not in known.partitions:
                answers[(topic.name, p.partition_index)] = ErrorCode.unknown_topic_or_partition
            else:
                entries.append(api.OffsetCommitEntry(
                    topic.name, p.partition_index, p.committed_offset,
                    getattr(p, "committed_leader_epoch", -1), p.committed_metadata))
    guard: VerificationGuard | NotRequired | None = NOT_REQUIRED
    if entries and header.api_version >= 5:
        added = await _add_offsets_partition(broker, request)
        if added != ErrorCode.none:
            for entry in entries:
                answers[(entry.topic, entry.partition)] = added
            entries = []
    elif entries and broker.config.transaction_partition_verification_enable:
        verified = await _verify_offsets_partition(broker, request, header.api_version)
        if isinstance(verified, ErrorCode):
            for entry in entries:
                answers[(entry.topic, entry.partition)] = verified
            entries = []
        else:
            guard = verified
    if entries:
        errors = await api.txn_commit_offsets(
            broker.group_coordinator, request.group_id,
            producer_id=request.producer_id, producer_epoch=request.producer_epoch,
            member_id=getattr(request, "member_id", ""),
            group_instance_id=getattr(request, "group_instance_id", None),
            generation_id=getattr(request, "generation_id", -1), entries=entries,
            verification=guard)
        for entry, error in zip(entries, errors, strict=True):
            answers[(entry.topic, entry.partition)] = error
    cls = response_class(header)
    topic_cls = nested(cls, "TxnOffsetCommitResponseTopic")
    partition_cls = nested(cls, "TxnOffsetCommitResponsePartition")
    by_topic: dict[str, list[Any]] = {}
    for topic in request.topics:
        for p in topic.partitions:
            by_topic.setdefault(topic.name, []).append(build(
                partition_cls, partition_index=p.partition_index,
                error_code=answers[(topic.name, p.partition_index)]))
    return build(cls, throttle_time=timedelta(0), topics=tuple(
        build(topic_cls, name=name, partitions=tuple(parts)) for name, parts in by_topic.items()))


async def _add_offsets_partition(broker: BrokerContext, request: Any) -> ErrorCode:
    """Transaction version 2: add the group's offsets partition to the transaction
    (Kafka's group coordinator through AddPartitionsToTxnManager)."""
    if not request.group_id:
        return ErrorCode.invalid_group_id
    tp = (GROUP_METADATA_TOPIC,
          partition_for(request.group_id, broker.config.offsets_topic_num_partitions))
    errors = await verification.verify(
        broker.txn_coordinator, request.transactional_id, request.producer_id,
        request.producer_epoch, [tp], add=True, generic_errors=True)
    error, _ = verification.produce_error(errors.get(tp, ErrorCode.none))
    if error in (ErrorCode.not_enough_replicas, ErrorCode.request_timed_out):
        return ErrorCode.coordinator_not_available  # Kafka's normalizeException
    return error


async def _verify_offsets_partition(
    broker: BrokerContext, request: Any, version: int
) -> ErrorCode | VerificationGuard | NotRequired | None:
    """Versions 0-4 (KIP-890 part 1, module doc): the guard the offsets write must
    carry (None: the transaction is ongoing there already; NOT_REQUIRED: the group
    is not coordinated here, which the group path answers), or the error that
    refuses the commit."""
    if not request.group_id:
        return NOT_REQUIRED  # INVALID_GROUP_ID from the group path
    index = partition_for(request.group_id, broker.config.offsets_topic_num_partitions)
    partition = broker.replica_manager.get(GROUP_METADATA_TOPIC, index)
    if partition is None or not partition.is_leader:
        return NOT_REQUIRED  # NOT_COORDINATOR from the group path
    guard = partition.producer_state.start_verification(request.producer_id,
                                                        request.producer_epoch)
    if guard is None:
        return None
    tp = (GROUP_METADATA_TOPIC, index)
    errors = await verification.verify(
        broker.txn_coordinator, request.transactional_id, request.producer_id,
        request.producer_epoch, [tp], add=False, generic_errors=version >= 4)
    error = errors.get(tp, ErrorCode.none)
    if error == ErrorCode.none:
        return guard
    if error == ErrorCode.network_exception:
        # Kafka's CoordinatorOperationExceptionHelper: older clients retry this one
        # without looking the coordinator up again.
        return ErrorCode.coordinator_load_in_progress
    return coordinator_error(error)
