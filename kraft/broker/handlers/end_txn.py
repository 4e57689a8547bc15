"""EndTxn (key 26), versions 0-5: commit or abort the producer's transaction.

The transaction coordinator (kraft.broker.txn.coordinator.end_txn) checks the
producer (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED for another epoch,
CONCURRENT_TRANSACTIONS while a change is in flight), writes PrepareCommit or
PrepareAbort to `__transaction_state` and answers once that is committed; the
markers follow. A retry of a completed EndTxn is NONE, the opposite outcome
or no transaction INVALID_TXN_STATE. v5 is transaction version 2 (KIP-890
part 2): the coordinator bumps the producer epoch with every commit or abort
(a new producer id when the epoch is exhausted) and the answer carries the id
and epoch the producer goes on with; a retry after the bump is recognised
(see TransactionCoordinator.end_txn). Failed answers carry -1/-1, as Kafka.

Not done: the TRANSACTIONAL_ID WRITE authorization.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import acl_checks
from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import RequestContext


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    denied = acl_checks.transaction(broker.access, ctx, request.transactional_id)
    if denied is not None:  # Kafka's error response: no producer id or epoch
        error, producer_id, producer_epoch = denied, -1, -1
    else:
        error, producer_id, producer_epoch = await broker.txn_coordinator.end_txn(
            request.transactional_id, request.producer_id, request.producer_epoch,
            bool(request.committed), client_tv=2 if header.api_version >= 5 else 0)
    if header.api_version < 2 and error == ErrorCode.producer_fenced:
        error = ErrorCode.invalid_producer_epoch  # older clients know only this one (Kafka)
    return build(response_class(header), throttle_time=timedelta(0), error_code=error,
                 producer_id=producer_id, producer_epoch=producer_epoch)
