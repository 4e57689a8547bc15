"""AddPartitionsToTxn (key 24), versions 0-5: partitions join a transaction.

v0-v3 (clients): one transaction. Partitions of unknown topics are
UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED (nothing
is added, as Kafka); otherwise the transaction coordinator
(kraft.broker.txn.coordinator.add_partitions) answers for all of them:
INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS (a
change in flight, or the previous transaction still completing: clients
retry), INVALID_TXN_STATE, or NONE once the Ongoing state naming them is
committed to `__transaction_state`.

v4+ (KIP-890, broker to broker): several transactions; `verify_only` only
checks that each partition is already in the producer's ongoing transaction
(TRANSACTION_ABORTABLE if not, CONCURRENT_TRANSACTIONS while it completes),
without adding it; partition leaders ask it before a transactional produce
(kraft.broker.txn.verification). v5 without `verify_only` is a partition
leader adding the partition for a transaction version 2 producer (Produce
v12+): the transaction follows version 2 (epoch bump at its end). Kafka requires CLUSTER_ACTION
for v4+; not checked yet (the security work adds it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import acl_checks
from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext

TopicPartition = tuple[str, int]


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    if header.api_version <= 3:
        results = await _one(broker, ctx, header.api_version,
                             request.v3_and_below_transactional_id,
                             request.v3_and_below_producer_id,
                             request.v3_and_below_producer_epoch,
                             request.v3_and_below_topics, verify_only=False)
        return build(cls, throttle_time=timedelta(0),
                     results_by_topic_v3_and_below=_topic_results(cls, results))
    result_cls = nested(cls, "AddPartitionsToTxnResult")
    answers = []
    for txn in request.transactions:
        results = await _one(broker, ctx, header.api_version, txn.transactional_id,
                             txn.producer_id, txn.producer_epoch, txn.topics,
                             verify_only=bool(txn.verify_only),
                             client_tv=2 if header.api_version >= 5 else None)
        answers.append(build(result_cls, transactional_id=txn.transactional_id,
                             topic_results=_topic_results(cls, results)))
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 results_by_transaction=tuple(answers))


async def _one(broker: BrokerContext, ctx: RequestContext, version: int,
               transactional_id: str, producer_id: int, epoch: int,
               topics: Any, *, verify_only: bool, client_tv: int | None = None
               ) -> dict[TopicPartition, ErrorCode]:
    wanted = [(t.name, p) for t in topics for p in t.partitions]
    denied = acl_checks.add_partitions_to_txn(broker.access, ctx, version, transactional_id,
                                              wanted)
    if denied is not None:
        return denied
    by_name = broker.image.topics.by_name
    unknown = {tp for tp in wanted
               if tp[0] not in by_name or tp[1] not in by_name[tp[0]].partitions}
    if unknown:
        return {tp: ErrorCode.unknown_topic_or_partition if tp in unknown
                else ErrorCode.operation_not_attempted for tp in wanted}
    coordinator = broker.txn_coordinator
    if verify_only:
        return coordinator.verify_partitions(transactional_id, producer_id, epoch, wanted)
    error = await coordinator.add_partitions(transactional_id, producer_id, epoch, wanted,
                                             client_tv)
    return dict.fromkeys(wanted, error)


def _topic_results(cls: type, results: dict[TopicPartition, ErrorCode]) -> tuple[Any, ...]:
    topic_cls = nested(cls, "AddPartitionsToTxnTopicResult")
    partition_cls = nested(cls, "AddPartitionsToTxnPartitionResult")
    by_topic: dict[str, list[tuple[int, ErrorCode]]] = {}
    for (topic, partition), error in results.items():
        by_topic.setdefault(topic, []).append((partition, error))
    return tuple(
        build(topic_cls, name=topic, results_by_partition=tuple(
            build(partition_cls, partition_index=p, partition_error_code=e) for p, e in parts))
        for topic, parts in by_topic.items())
