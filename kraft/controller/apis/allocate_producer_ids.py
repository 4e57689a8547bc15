"""AllocateProducerIds (67), version 0: brokers take blocks of producer ids
(kraft.broker.producer_ids); kraft.controller.producer_ids.allocate_producer_ids.

Error shape: the top-level error, an empty block.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import producer_ids
from kraft.controller.apis import ControllerApi
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.ALLOCATE_PRODUCER_IDS, version)
    return build(cls, throttle_time=timedelta(0), error_code=code, producer_id_start=-1,
                 producer_id_len=0)


API = ControllerApi(
    ApiSpec(ApiKey.ALLOCATE_PRODUCER_IDS, 0, 0),
    command=producer_ids.allocate_producer_ids,
    error_response=_error_response,
)
