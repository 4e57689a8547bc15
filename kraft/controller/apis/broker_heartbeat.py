"""BrokerHeartbeat (63), versions 0-2: a broker's session and state requests
(kraft.broker.lifecycle); kraft.controller.cluster.broker_heartbeat.

Error shape: the top-level error; the broker is told it is fenced and not
caught up, so it changes nothing on this answer.
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
    cls = response_type(ApiKey.BROKER_HEARTBEAT, version)
    return build(cls, throttle_time=timedelta(0), error_code=code, is_caught_up=False,
                 is_fenced=True, should_shut_down=False)


API = ControllerApi(
    ApiSpec(ApiKey.BROKER_HEARTBEAT, 0, 2),
    command=UsesHeartbeats(cluster.broker_heartbeat),
    error_response=_error_response,
)
