"""UnregisterBroker (64), version 0: remove a broker's registration;
kraft.controller.cluster.unregister_broker. Served on the controller listener and
forwarded by brokers, as Kafka's do (`kafka-cluster unregister --bootstrap-server`);
the broker answers once its own image no longer lists the broker.

Error shape: the top-level error and message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import cluster
from kraft.controller.apis import ControllerApi, Forwarded, UsesHeartbeats
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.UNREGISTER_BROKER, version)
    return build(cls, throttle_time=timedelta(0), error_code=code, error_message=message)


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    if response.error_code != ErrorCode.none:
        return None
    broker_id = request.broker_id
    return lambda image: broker_id not in image.cluster.brokers


API = ControllerApi(
    ApiSpec(ApiKey.UNREGISTER_BROKER, 0, 0),
    command=UsesHeartbeats(cluster.unregister_broker),
    error_response=_error_response,
    forwarded=Forwarded(visible=_visible),
)
