"""DescribeCluster (key 60), versions 0-2: the cluster id, a controller id and the brokers.

Brokers are the unfenced registered brokers with their endpoint on the
listener the request came in on (v2 with include_fenced_brokers adds the
fenced ones, flagged). Clients send admin requests to `controller_id`, which
for KRaft brokers is any live broker (it forwards them): the same choice as
Metadata. endpoint_type 2 (controllers, v1+) is served only by the controller
listener (kraft.controller.apis.describe_cluster); a broker answers
MISMATCHED_ENDPOINT_TYPE for it, UNSUPPORTED_ENDPOINT_TYPE for an unknown type,
with Kafka 4.4's messages.
Authorized operations, when asked for, are every operation the cluster
supports, as Kafka answers without an authorizer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import authorized_operations as ops
from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext

BROKERS_ENDPOINT_TYPE = 1
CONTROLLERS_ENDPOINT_TYPE = 2


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    broker_cls = nested(cls, "DescribeClusterBroker")
    endpoint_type = getattr(request, "endpoint_type", BROKERS_ENDPOINT_TYPE)
    common = dict(throttle_time=timedelta(0), endpoint_type=endpoint_type,
                  cluster_id=broker.cluster_id,
                  cluster_authorized_operations=ops.cluster(
                      broker.access, ctx, request.include_cluster_authorized_operations))
    if endpoint_type != BROKERS_ENDPOINT_TYPE:
        # Kafka's answer: the broker's own endpoint type, no cluster id, and
        # MISMATCHED_ENDPOINT_TYPE for controllers (asked of the controller
        # listener instead), UNSUPPORTED_ENDPOINT_TYPE for anything else.
        if endpoint_type == CONTROLLERS_ENDPOINT_TYPE:
            code, message = ErrorCode.mismatched_endpoint_type, (
                "The request was sent to an endpoint of type BROKER, but we wanted an "
                "endpoint of type CONTROLLER")
        else:
            code = ErrorCode.unsupported_endpoint_type
            message = f"Unsupported endpoint type {endpoint_type}"
        return build(cls, **{**common, "endpoint_type": BROKERS_ENDPOINT_TYPE,
                             "cluster_id": ""},
                     error_code=code, error_message=message, controller_id=-1, brokers=())
    include_fenced = getattr(request, "include_fenced_brokers", False)
    image = broker.image
    brokers = []
    for broker_id in sorted(image.cluster.brokers):
        registration = image.cluster.brokers[broker_id]
        if registration.fenced and not include_fenced:
            continue
        endpoint = registration.endpoint(ctx.listener)
        if endpoint is not None:
            brokers.append(build(broker_cls, broker_id=broker_id, host=endpoint.host,
                                 port=endpoint.port, rack=registration.rack,
                                 is_fenced=registration.fenced))
    alive = [b.broker_id for b in brokers if not getattr(b, "is_fenced", False)]
    controller_id = broker.node_id if broker.node_id in alive else (alive[0] if alive else -1)
    return build(cls, **common, error_code=ErrorCode.none, error_message=None,
                 controller_id=controller_id, brokers=tuple(brokers))
