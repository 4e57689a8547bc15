"""ACL checks of the controller-bound APIs (Kafka's ControllerApis) and where they run.

The rules, by API (`CLUSTER_RULES` and the per-item ones; `authorized` applies them):

- cluster rules, the whole request or nothing (CLUSTER_AUTHORIZATION_FAILED in
  the API's error shape): CLUSTER_ACTION for what nodes send each other (the
  raft RPCs Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch and FetchSnapshot;
  BrokerRegistration, BrokerHeartbeat, AlterPartition, AllocateProducerIds,
  ControllerRegistration, AssignReplicasToDirs, UpdateRaftVoter); ALTER for
  ElectLeaders, AlterPartitionReassignments, CreateAcls, DeleteAcls,
  AlterUserScramCredentials, UnregisterBroker, UpdateFeatures, AddRaftVoter,
  RemoveRaftVoter and DescribeCluster (on a controller, unlike on a broker:
  Kafka's ControllerApis.handleDescribeCluster); ALTER_CONFIGS for AlterClientQuotas; DESCRIBE for
  ListPartitionReassignments and DescribeQuorum;
- per-item rules: CreateTopics (CREATE on the cluster, else on each topic),
  DeleteTopics (DELETE on the cluster, else on each topic; a topic named by id
  and denied is answered with its name only if the principal may describe it),
  CreatePartitions (ALTER on each topic), AlterConfigs and
  IncrementalAlterConfigs (ALTER_CONFIGS on the topic, group, or for brokers
  the cluster). Denied items get TOPIC_ / GROUP_ / CLUSTER_AUTHORIZATION_FAILED;
  the others run as one request without them, and the answers are merged.
  CreateTopics also hides the configs of a created topic the principal may
  not DESCRIBE_CONFIGS (topic_config_error_code TOPIC_AUTHORIZATION_FAILED).

Where the check happens. Kafka's brokers wrap a forwarded request in an
Envelope carrying the client's principal, and the controller authorizes it
with that principal (the Envelope itself needs CLUSTER_ACTION). kraft's
brokers relay the request itself (kraft.broker.forwarding), so:

- the broker that receives a client's admin request authorizes it with the
  client's principal against its own image of the ACLs, and forwards only
  what is allowed (kraft.broker.forwarding calls `authorized`);
- the controller listener authorizes every request with the principal of its
  connection (`guard`); a forwarded API sent by a principal with CLUSTER_ACTION
  on the cluster - a broker, which has already authorized it - is run as is,
  the trust Kafka gives an Envelope's sender. Anyone else (an admin client on
  the controller listener, `--bootstrap-controller`) is checked as above.

DescribeAcls and DescribeConfigs (`CHECKED_BY_HANDLER`) are answered on the
controller listener by the code that answers them on a broker, which makes
Kafka's checks itself (DESCRIBE on the cluster; DESCRIBE_CONFIGS per resource).
ApiVersions and the SASL APIs are never checked (they come before
authentication; `OPEN`). An API with no rule here is refused when the registry is
built (`require_rule`): a new controller-bound API cannot be served unchecked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import apis
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.registry import ApiRegistry, RequestContext
from kraft.raft import rpc
from kraft.security.access import Access
from kraft.security.acl import AclOperation, ResourceType

__all__ = ["CHECKED_BY_HANDLER", "CLUSTER_RULES", "OPEN", "authorized", "guard", "require_rule",
           "split"]

Op = AclOperation

CLUSTER_RULES: dict[int, AclOperation] = {
    ApiKey.VOTE: Op.CLUSTER_ACTION,
    ApiKey.BEGIN_QUORUM_EPOCH: Op.CLUSTER_ACTION,
    ApiKey.END_QUORUM_EPOCH: Op.CLUSTER_ACTION,
    ApiKey.FETCH: Op.CLUSTER_ACTION,  # on the controller listener: raft's Fetch
    ApiKey.FETCH_SNAPSHOT: Op.CLUSTER_ACTION,
    ApiKey.BROKER_REGISTRATION: Op.CLUSTER_ACTION,
    ApiKey.BROKER_HEARTBEAT: Op.CLUSTER_ACTION,
    ApiKey.ALTER_PARTITION: Op.CLUSTER_ACTION,
    ApiKey.ALLOCATE_PRODUCER_IDS: Op.CLUSTER_ACTION,
    ApiKey.UNREGISTER_BROKER: Op.ALTER,
    ApiKey.ELECT_LEADERS: Op.ALTER,
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: Op.ALTER,
    ApiKey.CREATE_ACLS: Op.ALTER,
    ApiKey.DELETE_ACLS: Op.ALTER,
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: Op.ALTER,
    ApiKey.UPDATE_FEATURES: Op.ALTER,
    ApiKey.DESCRIBE_CLUSTER: Op.ALTER,
    ApiKey.LIST_PARTITION_REASSIGNMENTS: Op.DESCRIBE,
    ApiKey.DESCRIBE_QUORUM: Op.DESCRIBE,
    ApiKey.CONTROLLER_REGISTRATION: Op.CLUSTER_ACTION,
    ApiKey.ADD_RAFT_VOTER: Op.ALTER,
    ApiKey.REMOVE_RAFT_VOTER: Op.ALTER,
    ApiKey.UPDATE_RAFT_VOTER: Op.CLUSTER_ACTION,
    # Kafka's rules for the controller APIs kraft does not serve (quotas, JBOD
    # directories), so that a module added for one is checked as Kafka checks it.
    ApiKey.ALTER_CLIENT_QUOTAS: Op.ALTER_CONFIGS,
    ApiKey.ASSIGN_REPLICAS_TO_DIRS: Op.CLUSTER_ACTION,
}
"""APIs whose whole request needs one operation on the cluster."""

OPEN: frozenset[int] = frozenset({ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE,
                                  ApiKey.SASL_AUTHENTICATE})
"""Served to anyone, as Kafka's ControllerApis serves them."""

CHECKED_BY_HANDLER: frozenset[int] = frozenset({ApiKey.DESCRIBE_ACLS, ApiKey.DESCRIBE_CONFIGS})
"""Checked by their handlers, shared with the broker (kraft.security.describe_acls,
kraft.describe_configs)."""

ErrorShape = Callable[[int, Any, ErrorCode, str | None], Any]
Denied = tuple[ErrorCode, str | None, list[Any]]  # code, message, request items


@dataclass(frozen=True, slots=True)
class _Items:
    """Where a per-item API keeps its items: the request's and the response's list."""

    request_field: str
    response_field: str


_ITEMS: dict[int, _Items] = {
    ApiKey.CREATE_TOPICS: _Items("topics", "topics"),
    ApiKey.DELETE_TOPICS: _Items("topics", "responses"),  # topic_names before v6
    ApiKey.CREATE_PARTITIONS: _Items("topics", "results"),
    ApiKey.ALTER_CONFIGS: _Items("resources", "responses"),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: _Items("resources", "responses"),
}

# CreateTopics and DeleteTopics: this operation on the cluster allows every topic.
_CLUSTER_WIDE: dict[int, AclOperation] = {ApiKey.CREATE_TOPICS: Op.CREATE,
                                          ApiKey.DELETE_TOPICS: Op.DELETE}

_TOPIC_CONFIG, _BROKER_CONFIG, _BROKER_LOGGER, _CLIENT_METRICS, _GROUP_CONFIG = 2, 4, 8, 16, 32


def _decide(access: Access, ctx: RequestContext, key: int, item: Any,
            image: MetadataImage) -> tuple[ErrorCode, str | None, Any] | None:
    """(error, message, the item as the error answer should name it) when `item` is denied."""
    if key == ApiKey.CREATE_TOPICS:
        if access.allowed(ctx, Op.CREATE, ResourceType.TOPIC, item.name):
            return None
        return ErrorCode.topic_authorization_failed, "Authorization failed.", item
    if key == ApiKey.CREATE_PARTITIONS:
        if access.allowed(ctx, Op.ALTER, ResourceType.TOPIC, item.name):
            return None
        return ErrorCode.topic_authorization_failed, None, item
    if key == ApiKey.DELETE_TOPICS:
        name = item if isinstance(item, str) else item.name
        if name is None:  # by id: unknown ids are the controller's answer
            topic = image.topics.by_id.get(item.topic_id)
            if topic is None:
                return None
            if access.allowed(ctx, Op.DELETE, ResourceType.TOPIC, topic.name):
                return None
            if access.allowed(ctx, Op.DESCRIBE, ResourceType.TOPIC, topic.name):
                item = dataclasses.replace(item, name=topic.name)
            return ErrorCode.topic_authorization_failed, None, item
        if access.allowed(ctx, Op.DELETE, ResourceType.TOPIC, name):
            return None
        return ErrorCode.topic_authorization_failed, None, item
    # AlterConfigs, IncrementalAlterConfigs (Kafka's authorizeAlterResource)
    kind, name = item.resource_type, item.resource_name
    if kind == _TOPIC_CONFIG:
        if access.allowed(ctx, Op.ALTER_CONFIGS, ResourceType.TOPIC, name):
            return None
        return ErrorCode.topic_authorization_failed, None, item
    if kind == _GROUP_CONFIG:
        if access.allowed(ctx, Op.ALTER_CONFIGS, ResourceType.GROUP, name):
            return None
        return ErrorCode.group_authorization_failed, None, item
    if kind in (_BROKER_CONFIG, _BROKER_LOGGER, _CLIENT_METRICS):
        if access.cluster(ctx, Op.ALTER_CONFIGS):
            return None
        return ErrorCode.cluster_authorization_failed, None, item
    return None  # other types: the controller's INVALID_REQUEST


def _request_field(key: int, version: int) -> str:
    if key == ApiKey.DELETE_TOPICS and version < 6:
        return "topic_names"
    return _ITEMS[key].request_field


def split(access: Access, ctx: RequestContext, key: int, version: int, request: Any,
          image: MetadataImage) -> tuple[Any, list[Denied]]:
    """(the request without its denied items, the denied ones grouped by error) for a
    per-item API; the whole request and [] when nothing is denied."""
    field = _request_field(key, version)
    cluster_op = _CLUSTER_WIDE.get(key)
    if cluster_op is not None and access.cluster(ctx, cluster_op):
        return request, []
    kept: list[Any] = []
    denied: dict[tuple[ErrorCode, str | None], list[Any]] = {}
    for item in getattr(request, field):
        decision = _decide(access, ctx, key, item, image)
        if decision is None:
            kept.append(item)
        else:
            code, message, named = decision
            denied.setdefault((code, message), []).append(named)
    if not denied:
        return request, []
    return (dataclasses.replace(request, **{field: tuple(kept)}),
            [(code, message, items) for (code, message), items in denied.items()])


def _with_items(request: Any, key: int, version: int, items: Sequence[Any]) -> Any:
    return dataclasses.replace(request, **{_request_field(key, version): tuple(items)})


def _hide_configs(access: Access, ctx: RequestContext, response: Any) -> Any:
    """CreateTopics: no configs of a topic the principal may not DESCRIBE_CONFIGS."""
    topics = []
    for t in response.topics:
        if (t.error_code == ErrorCode.none and hasattr(t, "topic_config_error_code")
                and not access.allowed(ctx, Op.DESCRIBE_CONFIGS, ResourceType.TOPIC, t.name)):
            t = dataclasses.replace(t, configs=None,
                                    topic_config_error_code=ErrorCode.topic_authorization_failed)
        topics.append(t)
    return dataclasses.replace(response, topics=tuple(topics))


async def authorized(
    access: Access,
    ctx: RequestContext,
    key: int,
    version: int,
    request: Any,
    error_response: ErrorShape,
    image: MetadataImage,
    call: Callable[[Any], Awaitable[Any]],
) -> Any:
    """`call(request)` as far as `ctx`'s principal may make it (module docstring):
    the API's error shape for a cluster rule denied, the allowed items' answer
    merged with the denied items' errors for a per-item rule."""
    if not access.enabled:
        return await call(request)
    op = CLUSTER_RULES.get(key)
    if op is not None:
        if access.cluster(ctx, op):
            return await call(request)
        if op == Op.CLUSTER_ACTION:
            access.log_denied_node(ctx, ApiKey(key).name)
        return error_response(version, request, ErrorCode.cluster_authorization_failed, None)
    if key not in _ITEMS:
        return await call(request)
    kept, denied = split(access, ctx, key, version, request, image)
    field = _ITEMS[key].response_field
    if getattr(kept, _request_field(key, version)) or not denied:
        response = await call(kept)
    else:  # nothing left to run: an empty answer of the right shape
        response = error_response(version, _with_items(request, key, version, ()),
                                  ErrorCode.none, None)
    merged = list(getattr(response, field))
    for code, message, items in denied:
        errors = error_response(version, _with_items(request, key, version, items), code,
                                message)
        merged.extend(getattr(errors, field))
    response = dataclasses.replace(response, **{field: tuple(merged)})
    if key == ApiKey.CREATE_TOPICS:
        response = _hide_configs(access, ctx, response)
    return response


def require_rule(key: int) -> None:
    """Raise TypeError unless API `key` has a rule here (or is OPEN or CHECKED_BY_HANDLER)."""
    if (key not in CLUSTER_RULES and key not in _ITEMS and key not in OPEN
            and key not in CHECKED_BY_HANDLER):
        name = ApiKey(key).name if key in ApiKey._value2member_map_ else str(key)
        raise TypeError(f"{name} has no ACL rule in kraft.controller.authorization")


def _error_shape(key: int) -> ErrorShape:
    for api in apis.declarations():
        if api.spec.key == key:
            return api.error_response
    return lambda version, request, code, message: rpc.error_response(key, version, code,
                                                                      message)


def guard(registry: ApiRegistry, access: Access, image: Callable[[], MetadataImage]
          ) -> ApiRegistry:
    """The controller listener's `registry` with every API behind its check
    (module docstring); `image` gives the controller's committed image."""
    if not access.enabled:
        return registry
    forwarded = {api.spec.key for api in apis.forwarded()}
    guarded = ApiRegistry()
    for entry in registry:
        require_rule(entry.api_key)
        handler = entry.handler
        if entry.api_key in CLUSTER_RULES or entry.api_key in _ITEMS:
            handler = partial(_checked, access, image, _error_shape(entry.api_key),
                              entry.api_key in forwarded, entry.handler)
        guarded.register(entry.api_key, entry.min_version, entry.max_version, handler,
                         advertised_min=entry.advertised_min)
    return guarded


async def _checked(access: Access, image: Callable[[], MetadataImage], error_response: ErrorShape,
                   forwarded: bool, handler: Any, ctx: RequestContext, header: RequestHeader,
                   request: Any) -> Any:
    if forwarded and access.cluster(ctx, Op.CLUSTER_ACTION):
        return await handler(ctx, header, request)  # a broker relaying what it authorized
    return await authorized(access, ctx, header.api_key, header.api_version, request,
                            error_response, image(),
                            lambda kept: handler(ctx, header, kept))
