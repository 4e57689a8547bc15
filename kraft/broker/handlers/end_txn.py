"""EndTxn (key 26), versions 0-5: commit or abort the producer's transaction.

The transaction coordinator (kraft.broker.txn.coordinator.end_txn) checks the
producer (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED for another epoch,
CONCURRENT_TRANSACTIONS while a change is in flight), writes PrepareCommit or
PrepareAbort to `__transaction_state` and answers once that is committed; the
markers follow. A retry of a completed EndTxn is NONE, the opposite outcome
or no transaction INVALID_TXN_STATE. v5 answers carry the producer id and
epoch (KIP-890 part 2); we keep transaction version 1 semantics (no epoch
bump per transaction) and answer the current ones.

Not done: the TRANSACTIONAL_ID WRITE authorization.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kraft.broker.context import BrokerContext
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import ApiSpec, RequestContext

API = ApiSpec(ApiKey.END_TXN, 0, 5)


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    error = await broker.txn_coordinator.end_txn(
        request.transactional_id, request.producer_id, request.producer_epoch,
        bool(request.committed))
    return build(response_class(header), throttle_time=timedelta(0), error_code=error,
                 producer_id=request.producer_id, producer_epoch=request.producer_epoch)
