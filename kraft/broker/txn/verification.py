"""Asking the transaction coordinator about a transactional produce (KIP-890;
Kafka's AddPartitionsToTxnManager and ReplicaManager's verification path).

Before the first transactional batch of a producer's transaction is appended
to a partition, its leader asks the coordinator of the transactional id (the
leader of its `__transaction_state` partition):

* transaction version 1 clients (Produce v3-v11): AddPartitionsToTxn v4 with
  `verify_only`: is the partition already in the ongoing transaction?
* transaction version 2 clients (Produce v12+, when `transaction.version` is
  finalized at 2): AddPartitionsToTxn v5 without `verify_only`: the
  coordinator adds the partition itself (the client sends no
  AddPartitionsToTxn).

When this broker is the coordinator, it asks its own coordinator directly.
`TxnVerifier.verify` returns the errors per partition (partitions that
passed are absent), mapped as Kafka's AddPartitionsToTxnManager maps them:
PRODUCER_FENCED -> INVALID_PRODUCER_EPOCH; TRANSACTION_ABORTABLE ->
INVALID_TXN_STATE for clients before Produce v11; a request-level
CLUSTER_AUTHORIZATION_FAILED -> INVALID_TXN_STATE; no coordinator known ->
COORDINATOR_NOT_AVAILABLE; a connection failure -> NETWORK_EXCEPTION; a
coordinator that does not support the version -> nothing to report (Kafka
then skips verification). `produce_error` then maps those for the produce
answer as Kafka's ReplicaManager does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kio.schema.add_partitions_to_txn.v4 import request as add_v4
from kio.schema.add_partitions_to_txn.v5 import request as add_v5
from kio.schema.errors import ErrorCode
from kio.schema.types import ProducerId, TopicName, TransactionalId
from kio.static.primitive import i16, i32

from kraft.broker.internal_topics import TRANSACTION_STATE_TOPIC, partition_for
from kraft.broker.txn.coordinator import TransactionCoordinator
from kraft.broker.txn.metadata import TopicPartition
from kraft.net.client import ConnectionFailed, UnsupportedVersion

log = logging.getLogger("kraft.broker.txn")

REQUEST_TIMEOUT_S = 30.0  # Kafka: request.timeout.ms of the inter-broker send thread

# Verification errors a produce answers with NOT_ENOUGH_REPLICAS, so that every
# client retries without refreshing its metadata (Kafka's ReplicaManager).
_RETRIABLE = frozenset({
    ErrorCode.concurrent_transactions, ErrorCode.network_exception,
    ErrorCode.coordinator_load_in_progress, ErrorCode.coordinator_not_available,
    ErrorCode.not_coordinator,
})


def produce_error(error: ErrorCode) -> tuple[ErrorCode, str | None]:
    """The produce answer for a failed verification (Kafka's ReplicaManager)."""
    if error == ErrorCode.invalid_txn_state:
        return error, "Partition was not added to the transaction"
    if error in _RETRIABLE:
        return (ErrorCode.not_enough_replicas,
                "Unable to verify the partition has been added to the transaction. "
                f"Underlying error: {error.name.upper()}")
    return error, None


async def verify(
    coordinator: TransactionCoordinator, transactional_id: str, producer_id: int,
    producer_epoch: int, partitions: Iterable[TopicPartition], *, add: bool,
    generic_errors: bool,
) -> dict[TopicPartition, ErrorCode]:
    """The partitions the coordinator of `transactional_id` did not confirm, with
    their errors (module doc), asked from this broker's `coordinator` (its node id,
    metadata image, and inter-broker client). `add`: transaction version 2 (the
    coordinator adds them); `generic_errors`: the client understands
    TRANSACTION_ABORTABLE (Produce v11+)."""
    wanted = list(partitions)
    image = coordinator.image()
    topic = image.topics.by_name.get(TRANSACTION_STATE_TOPIC)
    leader = -1
    if topic is not None and topic.partitions:
        registration = topic.partitions.get(
            partition_for(transactional_id, len(topic.partitions)))
        leader = -1 if registration is None else registration.leader
    if leader < 0:
        return dict.fromkeys(wanted, ErrorCode.coordinator_not_available)
    if leader == coordinator.node_id:
        results = await _local(coordinator, transactional_id, producer_id, producer_epoch,
                               wanted, add)
    else:
        remote = await _remote(coordinator, leader, transactional_id, producer_id,
                               producer_epoch, wanted, add)
        if remote is None:
            return {}  # the coordinator cannot verify: Kafka goes on unverified
        results = remote
    errors = {}
    for tp, error in results.items():
        if error == ErrorCode.none:
            continue
        if error == ErrorCode.producer_fenced:
            error = ErrorCode.invalid_producer_epoch
        elif error == ErrorCode.transaction_abortable and not generic_errors:
            error = ErrorCode.invalid_txn_state
        errors[tp] = error
    return errors


async def _local(coordinator: TransactionCoordinator, transactional_id: str, producer_id: int,
                 epoch: int, wanted: list[TopicPartition], add: bool
                 ) -> dict[TopicPartition, ErrorCode]:
    if add:
        error = await coordinator.add_partitions(transactional_id, producer_id, epoch, wanted,
                                                 client_tv=2)
        return dict.fromkeys(wanted, error)
    return coordinator.verify_partitions(transactional_id, producer_id, epoch, wanted)


async def _remote(coordinator: TransactionCoordinator, leader: int, transactional_id: str,
                  producer_id: int, epoch: int, wanted: list[TopicPartition], add: bool
                  ) -> dict[TopicPartition, ErrorCode] | None:
    registration = coordinator.image().cluster.brokers.get(leader)
    listener = coordinator.markers.listener
    endpoint = None if registration is None else registration.endpoint(listener)
    client = coordinator.markers.client
    if endpoint is None or client is None:
        return dict.fromkeys(wanted, ErrorCode.coordinator_not_available)
    by_topic: dict[str, list[int]] = {}
    for topic, index in wanted:
        by_topic.setdefault(topic, []).append(index)
    schema = add_v5 if add else add_v4
    request = schema.AddPartitionsToTxnRequest(transactions=(
        schema.AddPartitionsToTxnTransaction(
            transactional_id=TransactionalId(transactional_id),
            producer_id=ProducerId(producer_id), producer_epoch=i16(epoch),
            verify_only=not add,
            topics=tuple(schema.AddPartitionsToTxnTopic(
                name=TopicName(t), partitions=tuple(i32(p) for p in ps))
                for t, ps in by_topic.items())),))
    try:
        response = await client.request((endpoint.host, endpoint.port), request,
                                        REQUEST_TIMEOUT_S)
    except UnsupportedVersion:
        log.warning("broker %d cannot verify transactions (AddPartitionsToTxn v%d); "
                    "producing unverified", leader, 5 if add else 4)
        return None
    except (ConnectionFailed, OSError) as e:
        log.info("verifying transaction %s at broker %d: %s", transactional_id, leader, e)
        return dict.fromkeys(wanted, ErrorCode.network_exception)
    if response.error_code != ErrorCode.none:
        error = (ErrorCode.invalid_txn_state
                 if response.error_code == ErrorCode.cluster_authorization_failed
                 else response.error_code)
        return dict.fromkeys(wanted, error)
    results: dict[TopicPartition, ErrorCode] = {}
    for txn in response.results_by_transaction:
        for topic in txn.topic_results:
            for p in topic.results_by_partition:
                results[(topic.name, p.partition_index)] = p.partition_error_code
    return results
