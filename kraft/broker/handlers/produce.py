"""Produce (key 0), versions 3-13; advertised from 0 (KAFKA-18659, see net.registry).

Per partition, in Kafka's order: the topic must exist (UNKNOWN_TOPIC_OR_PARTITION,
or UNKNOWN_TOPIC_ID for v13's topic ids), must not be internal
(`__consumer_offsets` is written by the group coordinator only:
INVALID_TOPIC_EXCEPTION, "Cannot append to internal topic"), this broker must lead the
partition (NOT_LEADER_OR_FOLLOWER, with the current leader from v10); the
records must be exactly one v2 batch (INVALID_RECORD, as Kafka's
ProduceRequest.validateRecords for v3+); with acks=all the ISR must have at
least min.insync.replicas members (NOT_ENOUGH_REPLICAS, nothing written).
The log then validates the batch (CORRUPT_MESSAGE, INVALID_RECORD,
MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE; on a compacted topic a record
without a key is INVALID_RECORD with one RecordError per such record, v8+)
and the idempotence checks run (INVALID_PRODUCER_EPOCH,
OUT_OF_ORDER_SEQUENCE_NUMBER; a retried batch is answered with its original
offsets and not written again).

acks: 0 sends no response; 1 answers after the leader's append; -1 (all)
answers once the high watermark passes the batch, i.e. every ISR member has
it, or NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR falls below
min.insync.replicas meanwhile, or REQUEST_TIMED_OUT after the request's
timeout (one delayed operation over all its partitions in the broker's
purgatory, Kafka's DelayedProduce). Anything else is INVALID_REQUIRED_ACKS.
An acks=all answer is a `Deferred` (net.server): the append happens in
request order, and the connection goes on with the next request while this
one waits for the ISR.

Transactional batches (KIP-98) begin or continue the producer's transaction on
the partition (kraft.broker.producer_state); a non-transactional batch from a
producer with an ongoing transaction is INVALID_TXN_STATE; a transactional
batch in a request without a transactional id is
TRANSACTIONAL_ID_AUTHORIZATION_FAILED (as Kafka, which authorizes the id).
KIP-890 verification (`transaction.partition.verification.enable`, default
true): before a batch that would begin the producer's transaction on a
partition is appended, the coordinator is asked (kraft.broker.txn.
verification: verify-only for Produce v3-v11, adding the partition for v12+,
transaction version 2) and the append carries the guard it was asked with, so
a batch whose transaction ended meanwhile is refused (INVALID_TXN_STATE).
The request waits for the answer before its appends (they stay in request
order); non-transactional requests skip all of it.

ACLs first (kraft.broker.acl_checks.produce, before any verification): WRITE
on the transactional id for transactional records, WRITE on each topic.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker import acl_checks
from kraft.broker.context import BrokerContext
from kraft.broker.current_leader import LeaderHints
from kraft.broker.internal_topics import INTERNAL_TOPICS
from kraft.broker.partition import Partition
from kraft.broker.producer_state import NOT_REQUIRED, NotRequired, VerificationGuard
from kraft.broker.txn import verification
from kraft.log.batch import BatchHeader, iter_batches
from kraft.log.errors import InvalidBatchError
from kraft.metadata.image import MetadataImage
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.server import Deferred, RequestContext

# Errors Kafka answers with LogAppendInfo.UNKNOWN_LOG_APPEND_INFO (log start
# offset -1); a batch refused for its records (INVALID_RECORD, INVALID_TIMESTAMP:
# a RecordValidationException) still reports the log start offset.
_UNKNOWN_APPEND_INFO = frozenset({ErrorCode.corrupt_message, ErrorCode.message_too_large,
                                  ErrorCode.record_list_too_large})


class _Outcome:
    __slots__ = ("base_offset", "error", "log_append_time", "log_start_offset", "message",
                 "partition", "record_errors", "wait_offset")

    def __init__(self, error: ErrorCode, message: str | None = None) -> None:
        self.error = error
        self.message = message
        self.base_offset = -1
        self.log_append_time = -1
        self.log_start_offset = -1
        self.partition: Partition | None = None
        self.wait_offset = -1
        self.record_errors: tuple[tuple[int, str], ...] = ()


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    version = header.api_version
    acks = request.acks
    image = broker.image
    by_id = version >= 13
    transactional_id = request.transactional_id
    # Authorized first, as Kafka: denied partitions are never verified (nor, v12+,
    # added to the transaction).
    denial = acl_checks.produce(broker.access, ctx, request, image, by_id)
    guards: dict[tuple[Any, int], VerificationGuard | _Outcome | None] | None = None
    if transactional_id is not None and acks in (0, 1, -1) and (
            version >= 12 or broker.config.transaction_partition_verification_enable):
        allowed = dataclasses.replace(request, topic_data=tuple(
            t for t in request.topic_data
            if denial(t.topic_id if by_id else t.name) is None))
        guards = await _verify(broker, version, allowed, transactional_id, by_id)
        image = broker.image
    outcomes: list[tuple[Any, list[tuple[int, _Outcome]]]] = []
    for topic_data in request.topic_data:
        key = topic_data.topic_id if by_id else topic_data.name
        results = []
        for data in topic_data.partition_data:
            guard = NOT_REQUIRED if guards is None else guards.get((key, data.index))
            if acks not in (0, 1, -1):
                outcome = _Outcome(ErrorCode.invalid_required_acks)
            elif (denied := denial(key)) is not None:
                outcome = _Outcome(denied)
            elif isinstance(guard, _Outcome):
                outcome = guard
            else:
                outcome = _append(broker, image, key, by_id, data.index, data.records, acks,
                                  transactional_id, guard)
            results.append((data.index, outcome))
        outcomes.append((key, results))
    if acks == 0:
        return None
    if acks == -1 and any(o.partition for _, results in outcomes for _, o in results):

        async def replicated() -> Any:
            await _await_replication(broker, outcomes, request.timeout)
            return _response(header, image, outcomes, ctx.listener)

        # The appends are done, in request order; the connection may go on
        # with the next request while this one waits for the ISR.
        return Deferred(replicated)
    return _response(header, image, outcomes, ctx.listener)


def _append(
    broker: BrokerContext,
    image: MetadataImage,
    key: Any,
    by_id: bool,
    index: int,
    records: bytes | None,
    acks: int,
    transactional_id: str | None = None,
    guard: VerificationGuard | NotRequired | None = NOT_REQUIRED,
) -> _Outcome:
    topic = image.topics.by_id.get(key) if by_id else image.topics.by_name.get(key)
    if topic is None or index not in topic.partitions:
        return _Outcome(ErrorCode.unknown_topic_id if by_id and topic is None
                        else ErrorCode.unknown_topic_or_partition)
    if topic.name in INTERNAL_TOPICS:
        return _Outcome(ErrorCode.invalid_topic_exception,
                        f"Cannot append to internal topic {topic.name}")
    partition = broker.replica_manager.get_by_id(topic.topic_id, index)
    if partition is None:
        return _Outcome(ErrorCode.not_leader_or_follower)
    if not partition.is_leader:
        _note_refused(partition, records, ErrorCode.not_leader_or_follower)
        return _Outcome(ErrorCode.not_leader_or_follower)
    if broker.session is not None and broker.session.presumed_fenced():
        _note_refused(partition, records, ErrorCode.not_leader_or_follower)
        return _Outcome(ErrorCode.not_leader_or_follower,
                        "this broker's heartbeats went unanswered for its session timeout: "
                        "the controller may have moved leadership")
    if not records:
        return _Outcome(ErrorCode.invalid_record, "produce request without records")
    view = memoryview(records)
    try:
        headers = [header for _, header in iter_batches(view, allow_partial_tail=True)]
    except InvalidBatchError as e:
        return _Outcome(ErrorCode(int(e.error_code)), str(e))
    if len(headers) != 1:
        return _Outcome(
            ErrorCode.invalid_record,
            f"produce v3+ carries exactly one record batch per partition, not {len(headers)}",
        )
    if transactional_id is None and headers[0].is_transactional:
        return _Outcome(ErrorCode.transactional_id_authorization_failed,
                        "transactional records in a produce request without a transactional id")
    min_isr = partition.min_insync_replicas
    header = headers[0]
    if acks == -1 and len(partition.isr) < min_isr:
        partition.note_refused(header, ErrorCode.not_enough_replicas)
        return _Outcome(
            ErrorCode.not_enough_replicas,
            f"the ISR {list(partition.isr)} is below min.insync.replicas {min_isr}",
        )
    result = partition.append_as_leader(view, verification=guard)
    info = result.info
    if int(info.error_code) == ErrorCode.out_of_order_sequence_number:
        refusal = partition.follows_refused(header)
        if refusal is not None:
            # The gap is our own refusal of an earlier batch: answer as we answered it.
            return _Outcome(refusal, f"sequence {header.base_sequence} of producer "
                            f"{header.producer_id} follows a batch this broker refused "
                            f"({refusal.name}); send that one first")
    if int(info.error_code) == ErrorCode.none:
        partition.appended_for(header.producer_id)
    outcome = _Outcome(ErrorCode(int(info.error_code)), info.error_message)
    outcome.record_errors = info.record_errors
    if outcome.error not in _UNKNOWN_APPEND_INFO:
        outcome.log_start_offset = info.log_start_offset
        outcome.base_offset = info.base_offset
        outcome.log_append_time = info.log_append_time
        outcome.partition = partition
        outcome.wait_offset = info.last_offset
    return outcome


def _note_refused(partition: Partition, records: bytes | None, error: ErrorCode) -> None:
    """Remember that the idempotent batch in `records` was refused with `error`
    (`Partition.follows_refused`)."""
    header = _first_header(records)
    if header is not None:
        partition.note_refused(header, error)


def _first_header(records: bytes | None) -> BatchHeader | None:
    if not records:
        return None
    try:
        for _, header in iter_batches(memoryview(records), allow_partial_tail=True):
            return header
    except InvalidBatchError:
        return None  # _append answers it
    return None


async def _verify(
    broker: BrokerContext, version: int, request: Any, transactional_id: str, by_id: bool
) -> dict[tuple[Any, int], VerificationGuard | _Outcome | None]:
    """KIP-890 verification of a transactional request, before its appends: per
    (topic key, partition) the guard to append with, or the refusal (an
    `_Outcome`); partitions absent here append with None (they must continue an
    ongoing transaction). Errors the appends find themselves (unknown topic, not
    leader, bad batches) are left to them."""
    image = broker.image
    producer: tuple[int, int] | None = None
    pending: dict[tuple[str, int], tuple[Any, int, VerificationGuard]] = {}
    for topic_data in request.topic_data:
        key = topic_data.topic_id if by_id else topic_data.name
        topic = image.topics.by_id.get(key) if by_id else image.topics.by_name.get(key)
        if topic is None:
            continue
        for data in topic_data.partition_data:
            partition = broker.replica_manager.get_by_id(topic.topic_id, data.index)
            header = _first_header(data.records)
            if (partition is None or not partition.is_leader or header is None
                    or not header.is_transactional or header.producer_id < 0):
                continue
            if producer is None:
                producer = (header.producer_id, header.producer_epoch)
            elif producer != (header.producer_id, header.producer_epoch):
                continue  # one producer per transactional request: the append refuses it
            guard = partition.producer_state.start_verification(*producer)
            if guard is not None:
                pending[(topic.name, data.index)] = (key, data.index, guard)
    answers: dict[tuple[Any, int], VerificationGuard | _Outcome | None] = {
        (key, index): guard for key, index, guard in pending.values()}
    if producer is None or not pending:
        return answers
    errors = await verification.verify(
        broker.txn_coordinator, transactional_id, *producer, pending, add=version >= 12,
        generic_errors=version >= 11)
    for tp, error in errors.items():
        if tp in pending:
            key, index, _ = pending[tp]
            answers[(key, index)] = _Outcome(*verification.produce_error(error))
    return answers


async def _await_replication(
    broker: BrokerContext,
    outcomes: list[tuple[Any, list[tuple[int, _Outcome]]]],
    timeout: timedelta,
) -> None:
    """Wait, as one delayed operation in the purgatory (Kafka's DelayedProduce),
    until every appended batch is settled (`_check_replicated`); those still
    waiting at the timeout answer REQUEST_TIMED_OUT."""
    waiting = [o for _, results in outcomes for _, o in results if o.partition is not None]
    if not waiting:
        return
    keys = [o.partition.key for o in waiting if o.partition is not None]

    def try_complete() -> bool:
        for outcome in waiting:
            _check_replicated(outcome)
        return all(o.partition is None for o in waiting)

    deadline = trio.current_time() + max(timeout.total_seconds(), 0)
    session = broker.session
    while True:
        # Wake at the end of the broker's session too: past it, the controller may
        # have fenced this broker and moved leadership (docs/design.md, "Failing over").
        until = session.session_valid_until if session is not None else None
        wake = deadline if until is None else min(deadline, until + 0.001)
        await broker.replica_manager.purgatory.wait(keys, try_complete, wake)
        if all(o.partition is None for o in waiting) or wake >= deadline:
            break
        if session is not None and session.presumed_fenced():
            for outcome in waiting:
                if outcome.partition is not None:
                    outcome.error = ErrorCode.not_leader_or_follower
                    outcome.partition = None
            return
    for outcome in waiting:
        if outcome.partition is not None:
            outcome.error = ErrorCode.request_timed_out
            outcome.partition = None


def _check_replicated(outcome: _Outcome) -> None:
    """Settle `outcome` (clearing its partition) once its batch is below the high
    watermark, or the partition is no longer led here (NOT_LEADER_OR_FOLLOWER),
    or its ISR is below min.insync.replicas (NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    also when the batch was replicated by an ISR that has meanwhile shrunk
    below it, as Kafka's checkEnoughReplicasReachOffset)."""
    partition = outcome.partition
    if partition is None:
        return
    too_few = len(partition.isr) < partition.min_insync_replicas
    if partition.high_watermark > outcome.wait_offset:
        if too_few:
            outcome.error = ErrorCode.not_enough_replicas_after_append
    elif not partition.is_leader:
        outcome.error = ErrorCode.not_leader_or_follower
    elif too_few:
        outcome.error = ErrorCode.not_enough_replicas_after_append
    else:
        return
    outcome.partition = None


def _response(
    header: RequestHeader,
    image: MetadataImage,
    outcomes: list[tuple[Any, list[tuple[int, _Outcome]]]],
    listener: str,
) -> Any:
    """The ProduceResponse; from v10, NOT_LEADER_OR_FOLLOWER partitions name the
    current leader and its endpoint on `listener` (KIP-951)."""
    cls = response_class(header)
    hints = LeaderHints(image, listener)
    topic_cls = nested(cls, "TopicProduceResponse")
    partition_cls = nested(cls, "PartitionProduceResponse")
    leader_cls = nested(cls, "LeaderIdAndEpoch") if header.api_version >= 10 else None
    record_error_cls = (nested(cls, "BatchIndexAndErrorMessage")
                        if header.api_version >= 8 else None)
    topics = []
    for key, results in outcomes:
        topic = hints.topic(key)
        partitions = []
        for index, o in results:
            fields: dict[str, Any] = {}
            if leader_cls is not None and o.error == ErrorCode.not_leader_or_follower:
                leader_id, leader_epoch = hints.leader(topic, index)
                fields["current_leader"] = leader_cls(leader_id=leader_id,
                                                      leader_epoch=leader_epoch)
            partitions.append(
                build(
                    partition_cls,
                    index=index,
                    error_code=o.error,
                    base_offset=o.base_offset if o.error == ErrorCode.none else -1,
                    log_append_time=(
                        datetime.fromtimestamp(o.log_append_time / 1000, UTC)
                        if o.log_append_time >= 0 else None
                    ),
                    log_start_offset=o.log_start_offset,
                    record_errors=tuple(
                        build(record_error_cls, batch_index=i, batch_index_error_message=m)
                        for i, m in o.record_errors) if record_error_cls else (),
                    error_message=o.message if o.error != ErrorCode.none else None,
                    **fields,
                )
            )
        topics.append(
            build(topic_cls, name=key, topic_id=key, partition_responses=tuple(partitions))
        )
    extra: dict[str, Any] = {}
    if leader_cls is not None:
        extra["node_endpoints"] = hints.node_endpoints(nested(cls, "NodeEndpoint"))
    return build(cls, responses=tuple(topics), throttle_time=timedelta(0), **extra)
