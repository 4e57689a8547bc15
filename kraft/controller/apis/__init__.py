"""Controller-bound APIs: every API the active controller answers, one module each.

Each module of this package ends with its declaration, `API = ControllerApi(...)`:

- `spec`: the API's key by name and the versions served (kraft.net.registry.ApiSpec);
- `command`: the controller command that answers it (a function of the
  speculative image, the request, its version and a ControllerContext;
  kraft.controller.result), `UsesHeartbeats(command)` for a command that also
  reads and updates the broker heartbeat soft state, `SERVED_BY_RAFT` for
  DescribeQuorum, which the raft driver answers (RaftNode.register), or
  `EveryController(handler)` for what every controller answers itself,
  active or not (DescribeCluster for `--bootstrap-controller`, KIP-919);
- `error_response`: the response answering every item of a request with one
  error code, per version: NOT_CONTROLLER from a controller that is not
  active, REQUEST_TIMED_OUT from a broker that could not get an answer;
- `forwarded`: set for the admin APIs clients send to any broker, which
  forwards them (kraft.broker.forwarding); its `visible` names the condition
  the broker's own metadata image must meet before the broker answers (a
  created topic has leaders there), so a client can use the result at once.
  The others are served on the controller listener only: brokers send
  BrokerRegistration, BrokerHeartbeat, AlterPartition and
  AllocateProducerIds.

Everything else is derived from these declarations (`declarations()` finds
the modules): the controller listener's registry (`register`, next to the
raft RPCs), the broker's forward table and, through both registries,
ApiVersions. Adding a controller-bound API is one module here plus its
command; nothing else changes.

An answer the controller cannot vouch for: a command whose records were
proposed but whose fate the controller cannot tell (only part of them
committed, or a snapshot replaced the log; kraft.controller.quorum_controller)
is answered REQUEST_TIMED_OUT for a forwarded API (the client's request may
or may not have taken effect, as after any timeout) and NOT_CONTROLLER for
the others, which the broker's channel simply repeats (they are idempotent).
A forwarded request carrying a request identity (kraft.controller.recent_results)
is executed at most once per activation: a broker re-sending it after a lost
connection gets the first execution's answer.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.controller.heartbeats import BrokerHeartbeatManager
from kraft.controller.quorum_controller import QuorumController
from kraft.controller.recent_results import RecentResults, request_identity
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.registry import ApiRegistry, ApiSpec, RequestContext

__all__ = [
    "SERVED_BY_RAFT",
    "ControllerApi",
    "ErrorShape",
    "EveryController",
    "Forwarded",
    "RequestCommand",
    "ServedByRaft",
    "UsesHeartbeats",
    "Visibility",
    "declarations",
    "register",
]

RequestCommand = Callable[[MetadataImage, Any, int, ControllerContext], ControllerResult[Any]]
"""A controller command: (speculative image, request, version, context) -> result."""

ErrorShape = Callable[[int, Any, ErrorCode, str | None], Any]
"""(version, request, error code, message) -> the response giving every item that code."""

Visibility = Callable[[MetadataImage, Any, Any], Callable[[MetadataImage], bool] | None]
"""(broker image when forwarded, request, response) -> the condition the broker's image
must meet before the broker answers, or None when there is nothing to wait for."""


@dataclass(frozen=True, slots=True)
class UsesHeartbeats:
    """A command that also reads and updates the broker heartbeat soft state
    (BrokerRegistration, BrokerHeartbeat, UnregisterBroker)."""

    command: Callable[
        [MetadataImage, Any, int, ControllerContext, BrokerHeartbeatManager],
        ControllerResult[Any],
    ]


@dataclass(frozen=True, slots=True)
class ServedByRaft:
    """Answered on the controller listener by the raft driver (RaftNode.register)."""


SERVED_BY_RAFT: Final = ServedByRaft()

LocalHandler = Callable[[QuorumController, RequestContext, RequestHeader, Any], Any]
"""(this node's controller, request context, header, request) -> the response."""


@dataclass(frozen=True, slots=True)
class EveryController:
    """Answered by every controller from what it knows, active or not, without a
    controller command (no records, no speculative image)."""

    handler: LocalHandler


@dataclass(frozen=True, slots=True)
class Forwarded:
    """Clients send it to any broker, which forwards it to the active controller."""

    visible: Visibility | None = None


@dataclass(frozen=True, slots=True)
class ControllerApi:
    """The one declaration of a controller-bound API (see the module docstring)."""

    spec: ApiSpec
    command: RequestCommand | UsesHeartbeats | ServedByRaft | EveryController
    error_response: ErrorShape
    forwarded: Forwarded | None = None


def declarations() -> tuple[ControllerApi, ...]:
    """The `API` of every module in this package, ordered by api key.

    Raises TypeError for a module without a ControllerApi `API` (the package
    holds declarations only) and ValueError for a key declared twice."""
    found: dict[int, tuple[str, ControllerApi]] = {}
    for info in pkgutil.iter_modules(__path__, f"{__name__}."):
        module = importlib.import_module(info.name)
        api = getattr(module, "API", None)
        if not isinstance(api, ControllerApi):
            raise TypeError(f"{info.name} declares no ControllerApi `API`")
        if api.spec.key in found:
            raise ValueError(f"{api.spec.key.name} declared by both "
                             f"{found[api.spec.key][0]} and {info.name}")
        found[api.spec.key] = (info.name, api)
    return tuple(api for _key, (_name, api) in sorted(found.items()))


def forwarded() -> tuple[ControllerApi, ...]:
    """The declarations of the APIs brokers forward."""
    return tuple(api for api in declarations() if api.forwarded is not None)


def register(registry: ApiRegistry, controller: QuorumController) -> None:
    """Serve every declared API that has a controller command on the controller
    listener's registry. The raft driver registers the rest (SERVED_BY_RAFT)."""
    results = RecentResults(controller)
    for api in declarations():
        if isinstance(api.command, EveryController):
            registry.add(api.spec, partial(_handle_locally, controller, api.command))
        elif not isinstance(api.command, ServedByRaft):
            registry.add(api.spec, partial(_handle, controller, results, api))


async def _handle_locally(controller: QuorumController, local: EveryController,
                          ctx: RequestContext, header: RequestHeader, request: Any) -> Any:
    return local.handler(controller, ctx, header, request)


def bind(
    api: ControllerApi, controller: QuorumController, request: Any, version: int
) -> Callable[[MetadataImage, ControllerContext], ControllerResult[Any]]:
    """`api`'s command for one request, as QuorumController.run_command takes it."""
    command = api.command
    if isinstance(command, UsesHeartbeats):
        with_heartbeats = command.command
        return lambda image, ctx: with_heartbeats(image, request, version, ctx,
                                                  controller.heartbeats)
    if isinstance(command, ServedByRaft):
        raise TypeError(f"{api.spec.key.name} is served by the raft driver")
    if isinstance(command, EveryController):
        raise TypeError(f"{api.spec.key.name} is answered by every controller, not a command")
    return lambda image, ctx: command(image, request, version, ctx)


async def _handle(
    controller: QuorumController,
    results: RecentResults,
    api: ControllerApi,
    ctx: RequestContext,
    header: RequestHeader,
    request: Any,
) -> Any:
    version = header.api_version
    if api.spec.key == ApiKey.BROKER_HEARTBEAT:
        controller.heartbeat_arrived(request.broker_id, ctx)

    async def execute() -> tuple[Any, bool]:
        ran = True

        def not_controller() -> Any:
            nonlocal ran
            ran = False
            return api.error_response(version, request, ErrorCode.not_controller, None)

        response = await controller.run_command(
            bind(api, controller, request, version), not_controller,
            unknown=lambda: _unknown_outcome(api, version, request),
        )
        return response, ran

    identity = request_identity(header.client_id) if api.forwarded is not None else None
    if identity is None:
        response, _ran = await execute()
        return response
    return await results.once(identity, execute)


def _unknown_outcome(api: ControllerApi, version: int, request: Any) -> Any:
    """The answer when the command's records were proposed but the controller
    will not learn whether they commit (see the module docstring)."""
    if api.forwarded is None:
        return api.error_response(version, request, ErrorCode.not_controller, None)
    return api.error_response(
        version, request, ErrorCode.request_timed_out,
        "the controller lost its leadership before it could tell whether the request "
        "took effect")
