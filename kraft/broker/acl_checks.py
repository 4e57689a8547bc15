"""The ACL checks of the broker APIs whose rule is more than one `Access` call.

Each function states the rule of Kafka's KafkaApis handler it mirrors and
returns what the handler needs: which items are denied and with which error
code. Plain rules (one resource, one operation) are one
`broker.access.allowed(...)` / `.cluster(...)` / `.checker(...)` call in the
handler itself (kraft.security.access).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.metadata.image import MetadataImage
from kraft.net.registry import RequestContext
from kraft.security.access import Access
from kraft.security.acl import AclOperation, ResourceType

__all__ = ["is_transactional_batch", "produce"]

_ATTRIBUTES_AT = 21  # base offset 8, length 4, leader epoch 4, magic 1, crc 4
_TRANSACTIONAL = 0x10


def is_transactional_batch(records: bytes | None) -> bool:
    """Whether the first record batch of `records` has the transactional bit."""
    if not records or len(records) < _ATTRIBUTES_AT + 2:
        return False
    return bool(int.from_bytes(records[_ATTRIBUTES_AT:_ATTRIBUTES_AT + 2], "big")
                & _TRANSACTIONAL)


def produce(access: Access, ctx: RequestContext, request: Any, image: MetadataImage,
            by_id: bool) -> Callable[[Any], ErrorCode | None]:
    """Produce (Kafka 4.x handleProduceRequest): transactional records need WRITE on
    the request's transactional id, else every partition is
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED; then WRITE on each topic, else
    TOPIC_AUTHORIZATION_FAILED, decided before whether the topic exists.
    Idempotent records need nothing more (KIP-679: InitProducerId checks).
    Transactional records without a transactional id are refused the same way with
    or without an authorizer, as Kafka (`transactionalId != null && authorize`).
    Returns `topic key -> error code or None`."""
    transactional = any(is_transactional_batch(p.records)
                        for t in request.topic_data for p in t.partition_data)
    if transactional:
        txn_id = getattr(request, "transactional_id", None)
        if txn_id is None or not access.allowed(ctx, AclOperation.WRITE,
                                                ResourceType.TRANSACTIONAL_ID, txn_id):
            return lambda key: ErrorCode.transactional_id_authorization_failed
    if not access.enabled:
        return lambda key: None
    writable = access.checker(ctx, AclOperation.WRITE)

    def denial(key: Any) -> ErrorCode | None:
        if by_id:
            topic = image.topics.by_id.get(key)
            name = topic.name if topic is not None else None
        else:
            name = key
        if name is not None and not writable(name):
            return ErrorCode.topic_authorization_failed
        return None

    return denial


def _txn_writable(access: Access, ctx: RequestContext, transactional_id: str | None) -> bool:
    return transactional_id is not None and access.allowed(
        ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id)


def init_producer_id(access: Access, ctx: RequestContext,
                     transactional_id: str | None) -> ErrorCode | None:
    """InitProducerId: WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    without one (idempotent producer) IDEMPOTENT_WRITE on the cluster or WRITE on
    some topic (CLUSTER_AUTHORIZATION_FAILED), as Kafka since KIP-679."""
    if transactional_id is not None:
        return (None if _txn_writable(access, ctx, transactional_id)
                else ErrorCode.transactional_id_authorization_failed)
    if access.cluster(ctx, AclOperation.IDEMPOTENT_WRITE) or access.allowed_any(
            ctx, AclOperation.WRITE, ResourceType.TOPIC):
        return None
    return ErrorCode.cluster_authorization_failed


def transaction(access: Access, ctx: RequestContext, transactional_id: str,
                group_id: str | None = None) -> ErrorCode | None:
    """EndTxn, AddOffsetsToTxn, TxnOffsetCommit: WRITE on the transactional id
    (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group if there is one
    (GROUP_AUTHORIZATION_FAILED)."""
    if not _txn_writable(access, ctx, transactional_id):
        return ErrorCode.transactional_id_authorization_failed
    if group_id is not None and not access.allowed(ctx, AclOperation.READ,
                                                   ResourceType.GROUP, group_id):
        return ErrorCode.group_authorization_failed
    return None


def add_partitions_to_txn(
    access: Access, ctx: RequestContext, version: int, transactional_id: str,
    partitions: list[tuple[str, int]],
) -> dict[tuple[str, int], ErrorCode] | None:
    """AddPartitionsToTxn (Kafka's handler): v4+ (brokers batching) needs CLUSTER_ACTION,
    else every partition is CLUSTER_AUTHORIZATION_FAILED (kraft answers per partition:
    the top-level field is the coordinator's); WRITE on the transactional id, else every
    partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED; WRITE on each topic, else that
    topic's partitions TOPIC_AUTHORIZATION_FAILED and the others OPERATION_NOT_ATTEMPTED.
    None when everything is allowed."""
    if version >= 4 and not access.cluster(ctx, AclOperation.CLUSTER_ACTION):
        return dict.fromkeys(partitions, ErrorCode.cluster_authorization_failed)
    if not _txn_writable(access, ctx, transactional_id):
        return dict.fromkeys(partitions, ErrorCode.transactional_id_authorization_failed)
    writable = access.checker(ctx, AclOperation.WRITE)
    if all(writable(topic) for topic, _ in partitions):
        return None
    return {tp: ErrorCode.operation_not_attempted if writable(tp[0])
            else ErrorCode.topic_authorization_failed for tp in partitions}
