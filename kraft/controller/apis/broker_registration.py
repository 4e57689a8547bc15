"""BrokerRegistration (62), versions 0-4: a broker registers at startup
(kraft.broker.lifecycle); kraft.controller.cluster.register_broker, which also
starts the broker's heartbeat session.

Error shape: the top-level error, broker epoch -1.
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
    cls = response_type(ApiKey.BROKER_REGISTRATION, version)
    return build(cls, throttle_time=timedelta(0), error_code=code, broker_epoch=-1)


API = ControllerApi(
    ApiSpec(ApiKey.BROKER_REGISTRATION, 0, 4),
    command=UsesHeartbeats(cluster.register_broker),
    error_response=_error_response,
)
