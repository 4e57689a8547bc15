"""ControllerRegistration (70), version 0 (KIP-919): every controller registers its
controller listeners and supported features with the active controller
(kraft.controller.registration_manager sends it);
kraft.controller.registrations.register_controller records it. Served on the
controller listener only, behind CLUSTER_ACTION on the cluster, as Kafka's.

Error shape: the top-level error and message.
"""

from __future__ import annotations

from kraft.controller import registrations
from kraft.controller.apis import ControllerApi
from kraft.net.api_keys import ApiKey
from kraft.net.registry import ApiSpec

API = ControllerApi(
    ApiSpec(ApiKey.CONTROLLER_REGISTRATION, 0, 0),
    command=registrations.register_controller,
    error_response=lambda version, request, code, message: registrations.registration_response(
        version, code, message),
)
