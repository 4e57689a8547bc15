"""DescribeCluster (60), versions 1-2, on the controller listener (KIP-919): what an
admin client given `--bootstrap-controller` asks first, to learn the controllers.

Every controller answers, active or not: endpoint_type 2 (controllers) gives the
cluster id, the quorum leader as `controller_id` (-1 while none is known: the
client retries) and each voter with its controller endpoint, as Kafka's
ControllerApis does from its controller registrations (kraft has none; the
voters are the controllers: controller.quorum.voters, or the set recorded at
format). Asked for brokers (endpoint_type 1) it answers
UNSUPPORTED_ENDPOINT_TYPE, as Kafka's controllers do. Version 0 has no
endpoint type, so it is not served here (Kafka's controllers start at 1 too).
Authorized operations, when asked for, are those the connection's principal may
perform on the cluster per the controller's committed ACLs (0 without DESCRIBE on
the cluster; every one without an authorizer), as Kafka's.

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

CONTROLLERS_ENDPOINT_TYPE = 2


def _common(request: Any, cluster_id: str) -> dict[str, Any]:
    return dict(throttle_time=timedelta(0), cluster_id=cluster_id,
                cluster_authorized_operations=ops.authorized(
                    getattr(request, "include_cluster_authorized_operations", False),
                    ops.CLUSTER),
                endpoint_type=getattr(request, "endpoint_type", CONTROLLERS_ENDPOINT_TYPE))


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.DESCRIBE_CLUSTER, version)
    return build(cls, **_common(request, ""), error_code=code, error_message=message,
                 controller_id=-1, brokers=())


def describe_controllers(controller: QuorumController, ctx: RequestContext,
                         header: RequestHeader, request: Any) -> Any:
    cls = response_class(header)
    common = _common(request, controller.cluster_id)
    if getattr(request, "include_cluster_authorized_operations", False):
        access = Access.from_config(controller.config,
                                    lambda: controller.committed_image.acls)
        common["cluster_authorized_operations"] = ops.cluster(access, ctx, True)
    if common["endpoint_type"] != CONTROLLERS_ENDPOINT_TYPE:
        return build(cls, **common, error_code=ErrorCode.unsupported_endpoint_type,
                     error_message="The controller can only describe controller endpoints.",
                     controller_id=-1, brokers=())
    node_cls = nested(cls, "DescribeClusterBroker")
    voters = controller.raft.voter_addresses
    nodes = tuple(build(node_cls, broker_id=node_id, host=host, port=port, rack=None,
                        is_fenced=False)
                  for node_id, (host, port) in sorted(voters.items()))
    leader = controller.raft.leader.leader_id
    return build(cls, **common, error_code=ErrorCode.none, error_message=None,
                 controller_id=-1 if leader is None else leader, brokers=nodes)


API = ControllerApi(
    ApiSpec(ApiKey.DESCRIBE_CLUSTER, 1, 2),
    command=EveryController(describe_controllers),
    error_response=_error_response,
)
