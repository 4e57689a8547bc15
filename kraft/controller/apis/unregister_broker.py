"""UnregisterBroker (64), version 0: remove a broker's registration; served on the
controller listener only (kraft's brokers do not forward it);
kraft.controller.cluster.unregister_broker.

Error shape: the top-level error and message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import cluster
from kraft.controller.apis import ControllerApi, UsesHeartbeats
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.UNREGISTER_BROKER, version)
    return build(cls, throttle_time=timedelta(0), error_code=code, error_message=message)


API = ControllerApi(
    ApiSpec(ApiKey.UNREGISTER_BROKER, 0, 0),
    command=UsesHeartbeats(cluster.unregister_broker),
    error_response=_error_response,
)
