"""AllocateProducerIds (key 67) v0: hand a broker the next block of producer ids
(Kafka's ProducerIdControlManager.generateNextProducerId).

Theory of operation: producer ids are handed out in blocks of
PRODUCER_ID_BLOCK_SIZE (1000, Kafka's ProducerIdsBlock). The image holds the
first id of the next block (-1 before any block, so the first block starts at
0); each allocation writes one ProducerIdsRecord moving it forward by a block,
so a block is never handed out twice, even across controller failovers (the
record is committed before the broker uses the block).

Errors: BROKER_ID_NOT_REGISTERED for an unknown broker, STALE_BROKER_EPOCH for
a registration with another epoch (KRaft Kafka answers STALE_BROKER_EPOCH for
both; its broker treats them alike), UNKNOWN_SERVER_ERROR when the id space
(int64) is exhausted. Errors carry start 0 and length 0, Kafka's defaults.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import ProducerIdsRecord
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build

__all__ = ["PRODUCER_ID_BLOCK_SIZE", "allocate_producer_ids"]

PRODUCER_ID_BLOCK_SIZE: Final = 1000
_INT64_MAX: Final = 2**63 - 1


def allocate_producer_ids(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """Handle AllocateProducerIds v0: the block [start, start + 1000) for the broker."""
    cls = response_type(ApiKey.ALLOCATE_PRODUCER_IDS, version)

    def failed(error: ErrorCode) -> ControllerResult[Any]:
        return ControllerResult(
            (),
            build(
                cls,
                throttle_time=timedelta(0),
                error_code=error,
                producer_id_start=0,
                producer_id_len=0,
            ),
        )

    registration = image.cluster.brokers.get(request.broker_id)
    if registration is None:
        return failed(ErrorCode.broker_id_not_registered)
    if registration.broker_epoch != request.broker_epoch:
        return failed(ErrorCode.stale_broker_epoch)
    start = max(image.producer_ids.next_producer_id, 0)
    if start > _INT64_MAX - PRODUCER_ID_BLOCK_SIZE:
        return failed(ErrorCode.unknown_server_error)
    record = ProducerIdsRecord(
        broker_id=request.broker_id,
        broker_epoch=request.broker_epoch,
        next_producer_id=start + PRODUCER_ID_BLOCK_SIZE,
    )
    return ControllerResult(
        (record,),
        build(
            cls,
            throttle_time=timedelta(0),
            error_code=ErrorCode.none,
            producer_id_start=start,
            producer_id_len=PRODUCER_ID_BLOCK_SIZE,
        ),
    )
