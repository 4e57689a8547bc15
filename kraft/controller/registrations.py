"""ControllerRegistration (70, KIP-919): the active controller records a controller's
registration (Kafka's ClusterControlManager.registerController).

A controller, voter or observer, registers once it knows the active controller
(kraft.controller.registration_manager), and again with a new incarnation id
each time its process starts. The command writes one RegisterControllerRecord
with the request's id, incarnation, listeners and feature ranges; replayed, it
replaces any earlier registration of that id in the image's controller table
(`ClusterImage.controllers`), which DescribeCluster on a controller listener
answers from (kraft.controller.apis.describe_cluster).

As Kafka's: nothing is checked beyond the request's shape (a controller may
register before it is a voter, and registrations are never removed), and the
record is written on every request, also when it repeats the registration in
force. `zk_migration_ready` is recorded False whatever the request says (Kafka
writes false since ZooKeeper migration is gone in 4.x). Kafka refuses
registrations below metadata.version 3.7-IV0; kraft's controllers serve KIP-919
at the level they write (3.6-IV0, kraft.controller.quorum_controller), as they
serve DescribeCluster on the controller listener there.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import BrokerEndpoint, BrokerFeature, RegisterControllerRecord
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build

__all__ = ["register_controller", "registration_response"]


def registration_response(version: int, code: ErrorCode, message: str | None) -> Any:
    """ControllerRegistrationResponse with `code` and `message`."""
    return build(response_type(ApiKey.CONTROLLER_REGISTRATION, version),
                 throttle_time=timedelta(0), error_code=code, error_message=message)


def register_controller(image: MetadataImage, request: Any, version: int,
                        ctx: ControllerContext) -> ControllerResult[Any]:
    """Record the registration `request` carries (module docstring)."""
    record = RegisterControllerRecord(
        controller_id=request.controller_id,
        incarnation_id=request.incarnation_id or uuid.UUID(int=0),  # kio: zero id is None
        zk_migration_ready=False,
        endpoints=tuple(BrokerEndpoint(name=listener.name, host=listener.host,
                                       port=listener.port,
                                       security_protocol=listener.security_protocol)
                        for listener in request.listeners),
        features=tuple(BrokerFeature(name=feature.name,
                                     min_supported_version=feature.min_supported_version,
                                     max_supported_version=feature.max_supported_version)
                       for feature in request.features),
    )
    return ControllerResult((record,), registration_response(version, ErrorCode.none, None))
