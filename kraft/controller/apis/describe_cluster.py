"""DescribeCluster (60), versions 1-2, on the controller listener (KIP-919): what an
admin client given `--bootstrap-controller` (`bootstrap.controllers`) asks first,
to learn the controllers.

Every controller answers, active or not, as Kafka's ControllerApis does from its
controller registrations: endpoint_type 2 (controllers) gives the cluster id,
every registered controller (RegisterControllerRecord, kraft.controller.
registrations) that has an endpoint on the listener the request came in on,
with that endpoint, and the quorum leader as `controller_id` when it is among
them (-1 otherwise, also while no leader is known: the client asks again).
Kafka's errors: endpoint type 1 (brokers) is MISMATCHED_ENDPOINT_TYPE, any other
type UNSUPPORTED_ENDPOINT_TYPE, each with Kafka's message and the response's
defaults (no cluster id, endpoint type 1). Version 0 has no endpoint type (it
means brokers): Kafka's controllers advertise it and answer it INVALID_REQUEST
with the mismatch message, and so does kraft. The request needs
ALTER on the cluster (kraft.controller.authorization), unlike a broker's.
Authorized operations, when asked for, are those the connection's principal may
perform on the cluster per the controller's committed ACLs (0 without DESCRIBE
on the cluster; every one without an authorizer), as Kafka's.

Error shape: the top-level error and message, no brokers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import authorized_operations as ops
from kraft.controller.apis import ControllerApi, EveryController
from kraft.controller.quorum_controller import QuorumController
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader, response_type
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import ApiSpec, RequestContext
from kraft.security.access import Access

BROKERS_ENDPOINT_TYPE = 1
CONTROLLERS_ENDPOINT_TYPE = 2


def _defaults(cls: type, code: ErrorCode, message: str | None) -> Any:
    """The response with `code` and Kafka's defaults everywhere else."""
    return build(cls, throttle_time=timedelta(0), cluster_id="",
                 cluster_authorized_operations=ops.NOT_REQUESTED,
                 endpoint_type=BROKERS_ENDPOINT_TYPE, error_code=code, error_message=message,
                 controller_id=-1, brokers=())


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    return _defaults(response_type(ApiKey.DESCRIBE_CLUSTER, version), code, message)


def describe_controllers(controller: QuorumController, ctx: RequestContext,
                         header: RequestHeader, request: Any) -> Any:
    cls = response_class(header)
    endpoint_type = getattr(request, "endpoint_type", BROKERS_ENDPOINT_TYPE)  # v1+
    if endpoint_type == BROKERS_ENDPOINT_TYPE:
        mismatched = (ErrorCode.invalid_request if header.api_version == 0
                      else ErrorCode.mismatched_endpoint_type)
        return _defaults(cls, mismatched,
                         "The request was sent to an endpoint of type CONTROLLER, but we "
                         "wanted an endpoint of type BROKER")
    if endpoint_type != CONTROLLERS_ENDPOINT_TYPE:  # v1+ only
        return _defaults(cls, ErrorCode.unsupported_endpoint_type,
                         f"Unsupported endpoint type {endpoint_type}")
    access = Access.from_config(controller.config, lambda: controller.committed_image.acls)
    node_cls = nested(cls, "DescribeClusterBroker")
    nodes = []
    for controller_id, registration in sorted(
            controller.committed_image.cluster.controllers.items()):
        endpoint = registration.endpoint(ctx.listener)
        if endpoint is not None:
            nodes.append(build(node_cls, broker_id=controller_id, host=endpoint.host,
                               port=endpoint.port, rack=None, is_fenced=False))
    leader = controller.raft.leader.leader_id
    return build(cls, throttle_time=timedelta(0), cluster_id=controller.cluster_id,
                 cluster_authorized_operations=ops.cluster(
                     access, ctx, request.include_cluster_authorized_operations),
                 endpoint_type=CONTROLLERS_ENDPOINT_TYPE, error_code=ErrorCode.none,
                 error_message=None,
                 controller_id=leader if any(n.broker_id == leader for n in nodes) else -1,
                 brokers=tuple(nodes))


API = ControllerApi(
    ApiSpec(ApiKey.DESCRIBE_CLUSTER, 0, 2),
    command=EveryController(describe_controllers),
    error_response=_error_response,
)
