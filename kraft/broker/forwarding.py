"""Forwarding: the admin requests a broker takes from clients and relays to the controller.

Kafka's ForwardingManager. Which APIs, at which versions, and how each is
answered is declared once, in kraft/controller/apis (the declarations with
`forwarded` set: CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs,
IncrementalAlterConfigs, ElectLeaders, AlterPartitionReassignments,
ListPartitionReassignments, DescribeQuorum); `register` serves each of them
on the broker's client listeners with the same handler. KRaft clients may
send admin requests to any broker.

ACLs: the broker checks a forwarded request with the client's principal
before relaying it, and relays only what is allowed; the controller trusts a
broker's relay (kraft.controller.authorization explains the choice).

The handler relays the request unchanged to the active controller over the
controller listener (Kafka wraps it in Envelope; both ends here run the same
code, so the request itself is relayed) with ControllerChannel.forward, which
makes it take effect at most once and returns the controller's answer as is.
When no answer can be had within the request's timeout (its `timeout` field,
else DEFAULT_TIMEOUT_S), every item gets REQUEST_TIMED_OUT (retriable for
admin clients) in the API's error shape.

After a successful change the broker waits, up to the same timeout, until its
own metadata image satisfies the declaration's `visible` condition (created
topics have leaders, deleted ones are gone, elected partitions have a newer
leader epoch), so a client can use the result at once. A validate_only
request changes nothing and is answered at once.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import broker_resources
from kraft.broker.controller_channel import ControllerChannel, ControllerUnavailable
from kraft.broker.metadata_cache import MetadataCache
from kraft.controller import apis, authorization
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import ApiRegistry, RequestContext
from kraft.security.access import Access

__all__ = ["DEFAULT_TIMEOUT_S", "register"]

DEFAULT_TIMEOUT_S = 30.0
MIN_TIMEOUT_S = 1.0


def register(registry: ApiRegistry, channel: ControllerChannel, metadata: MetadataCache,
             access: Access | None = None, node_id: int | None = None) -> None:
    """Serve every forwarded API's declaration on `registry` (a broker's client
    listeners), each authorized here first (kraft.controller.authorization).
    With `node_id`, IncrementalAlterConfigs first answers what this broker answers
    itself (kraft.broker.broker_resources: its loggers, other brokers' ids)."""
    access = access if access is not None else Access(None)
    for api in apis.forwarded():
        authorization.require_rule(api.spec.key)
        handler = partial(forward, api, channel, metadata, access)
        if api.spec.key == ApiKey.INCREMENTAL_ALTER_CONFIGS and node_id is not None:
            handler = partial(_alter_configs, node_id, handler, access, api)
        registry.add(api.spec, handler)


async def _alter_configs(node_id: int, forward_rest: Any, access: Access,
                         api: apis.ControllerApi, ctx: RequestContext, header: RequestHeader,
                         request: Any) -> Any:
    """IncrementalAlterConfigs: the resources this broker answers, the rest forwarded."""
    local, rest = broker_resources.preprocess(node_id, access, ctx, request)
    if not local:
        return await forward_rest(ctx, header, request)
    if rest.resources:
        forwarded = await forward_rest(ctx, header, rest)
    else:
        forwarded = api.error_response(header.api_version, rest, ErrorCode.none, None)
    item = nested(response_class(header), "AlterConfigsResourceResponse")
    return broker_resources.merge(request, local, forwarded, partial(build, item))


async def forward(
    api: apis.ControllerApi,
    channel: ControllerChannel,
    metadata: MetadataCache,
    access: Access,
    ctx: RequestContext,
    header: RequestHeader,
    request: Any,
) -> Any:
    """Relay what `ctx`'s principal may ask of `request` to the active controller
    (the check happens here, with the client's principal: kraft.controller.authorization);
    the answer once visible here."""
    return await authorization.authorized(
        access, ctx, header.api_key, header.api_version, request, api.error_response,
        metadata.image, partial(_relay, api, channel, metadata, header))


async def _relay(api: apis.ControllerApi, channel: ControllerChannel, metadata: MetadataCache,
                 header: RequestHeader, request: Any) -> Any:
    timeout = getattr(request, "timeout", None)
    timeout_s = timeout.total_seconds() if isinstance(timeout, timedelta) else DEFAULT_TIMEOUT_S
    timeout_s = max(timeout_s, MIN_TIMEOUT_S)
    before = metadata.image
    try:
        response = await channel.forward(request, timeout_s)
    except ControllerUnavailable as e:
        return api.error_response(header.api_version, request, ErrorCode.request_timed_out,
                                  str(e))
    assert api.forwarded is not None
    visible = api.forwarded.visible
    if visible is not None and not getattr(request, "validate_only", False):
        condition = visible(before, request, response)
        if condition is not None:
            await metadata.wait_for(condition, timeout_s)
    return response
