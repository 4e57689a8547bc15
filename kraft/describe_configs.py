"""DescribeConfigs (key 32), versions 1-4: topic, broker and group configs with their sources.

One answer for both listeners, as Kafka's ConfigHelper serves both: a broker
answers from its config and metadata image (kraft/broker/handlers/
describe_configs.py), a controller from its config and committed image
(kraft/controller/apis/describe_configs.py, for `kafka-configs
--bootstrap-controller`); "this node" below is the one answering, named by
its node.id (a controller describes itself as broker N, as Kafka's does).

Resources:
- TOPIC (2): every topic config Kafka has (kraft.topic_configs) with its
  effective value and where it came from: the topic's dynamic config, this
  node's or the cluster's dynamic broker config, server.properties, or
  Kafka's default. An illegal name is INVALID_TOPIC_EXCEPTION with Kafka's
  reason, an unknown topic UNKNOWN_TOPIC_OR_PARTITION.
- BROKER (4): every server.properties key kraft knows, for this node's id,
  or the cluster-wide dynamic defaults for the empty name. Another node's
  id is INVALID_REQUEST (clients send it to that node, as Kafka requires),
  as is a name that is not a number, with Kafka's messages.
- GROUP (32): every group config of Kafka 4.0 (kraft.group_configs) for that
  group id, set on the group (GROUP_CONFIG) or the node's default for it
  (DEFAULT_CONFIG); the group need not exist. An empty name is INVALID_REQUEST.
- BROKER_LOGGER (8), named by this node's id: its loggers and their levels
  (kraft.broker.broker_resources).
- Anything else is INVALID_REQUEST: not supported.
`configuration_keys` restricts the answer to those names. include_synonyms
lists Kafka's synonym chain (ConfigHelper): for a topic config its own
override, then every value of its broker synonym by source (dynamic, dynamic
default, server.properties, default); for a broker key the same chain of its
group (log.retention.ms/minutes/hours, a listener's key and its base); group
configs list themselves. include_documentation (v3+) adds the doc.
Sensitive values are never returned. Authorization (Kafka's ConfigHelper):
DESCRIBE_CONFIGS on the topic, the group, or for brokers and loggers the
cluster; a denied resource gets TOPIC_ / GROUP_ / CLUSTER_AUTHORIZATION_FAILED
with Kafka's message for the code ("Topic authorization failed.").
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft import group_configs, topic_configs
from kraft.broker import broker_resources
from kraft.config import KafkaConfig
from kraft.controller.topics import validate_topic_name
from kraft.metadata.image import ConfigResource, MetadataImage
from kraft.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE
from kraft.net.messages import build, nested
from kraft.net.registry import RequestContext
from kraft.security.access import Access
from kraft.security.acl import AclOperation, ResourceType

__all__ = ["describe_configs"]


@dataclasses.dataclass(frozen=True, slots=True)
class _Node:
    """The node answering: its id, its server.properties and its image."""

    node_id: int
    config: KafkaConfig
    image: MetadataImage


def describe_configs(config: KafkaConfig, image: MetadataImage, access: Access,
                     ctx: RequestContext, cls: type, request: Any) -> Any:
    """The DescribeConfigs response of class `cls` (the request's version) to
    `request` from `ctx`'s principal, answered by the node whose server.properties
    are `config`, from its `image` (module docstring)."""
    node = _Node(config.node_id, config, image)
    result_cls = nested(cls, "DescribeConfigsResult")
    entry_cls = nested(cls, "DescribeConfigsResourceResult")
    synonym_cls = nested(cls, "DescribeConfigsSynonym")
    include_synonyms = request.include_synonyms
    include_doc = getattr(request, "include_documentation", False)
    results = []
    for resource in request.resources:
        denied = _denied(access, ctx, resource.resource_type, resource.resource_name)
        error, message, entries = ((denied, _DENIED[denied], []) if denied is not None
                                   else _describe(node, resource))
        wanted = resource.configuration_keys
        if wanted is not None:
            entries = [e for e in entries if e.name in wanted]
        # Kafka leaves a logger entry's documentation at the field's default, "",
        # whether or not documentation was asked for.
        logger = resource.resource_type == broker_resources.BROKER_LOGGER
        configs = tuple(
            build(
                entry_cls, name=e.name, value=e.value, read_only=e.read_only,
                config_source=e.source, is_sensitive=e.is_sensitive,
                synonyms=(
                    tuple(synonym_cls(name=n, value=v, source=src) for n, v, src in e.synonyms)
                    if e.synonyms is not None
                    else (synonym_cls(name=e.name, value=e.value, source=e.source),)
                ) if include_synonyms else (),
                config_type=e.type,
                documentation=e.documentation if include_doc or logger else None,
            )
            for e in entries
        )
        # Kafka answers "" where there is no message (also for an unknown topic).
        results.append(build(result_cls, error_code=error, error_message=message or "",
                             resource_type=resource.resource_type,
                             resource_name=resource.resource_name, configs=configs))
    return build(cls, throttle_time=timedelta(0), results=tuple(results))


def _describe(
    node: _Node, resource: Any
) -> tuple[ErrorCode, str | None, list[topic_configs.ConfigEntry]]:
    image = node.image
    configs = image.configs
    dynamic_default = configs.get(ConfigResource(BROKER_RESOURCE, ""))
    dynamic_broker = configs.get(ConfigResource(BROKER_RESOURCE, str(node.node_id)))
    name = resource.resource_name
    if resource.resource_type == TOPIC_RESOURCE:
        if (invalid := validate_topic_name(name)) is not None:
            return ErrorCode.invalid_topic_exception, invalid, []
        if name not in image.topics.by_name:
            return ErrorCode.unknown_topic_or_partition, None, []
        overrides = configs.get(ConfigResource(TOPIC_RESOURCE, name))
        return ErrorCode.none, None, topic_configs.describe_topic_configs(
            node.config, overrides, dynamic_broker, dynamic_default
        )
    if resource.resource_type == BROKER_RESOURCE:
        if name == "":
            # The cluster-wide defaults, each with only its dynamic-default
            # synonyms (Kafka's createBrokerConfigEntry, perBrokerConfig=false).
            default = topic_configs.DYNAMIC_DEFAULT_BROKER_CONFIG
            return ErrorCode.none, None, [
                dataclasses.replace(e, synonyms=tuple(
                    syn for syn in e.synonyms or () if syn[2] == default))
                for e in topic_configs.describe_broker_configs(node.config, dynamic_default, {})
                if e.source == default
            ]
        if not name.lstrip("-").isdigit():
            return (ErrorCode.invalid_request,
                    f"Broker id must be an integer, but it is: {name}", [])
        if name != str(node.node_id):
            return (ErrorCode.invalid_request, f"Unexpected broker id, expected "
                    f"{node.node_id} or empty string, but received {name}", [])
        return ErrorCode.none, None, topic_configs.describe_broker_configs(
            node.config, dynamic_default, dynamic_broker
        )
    if resource.resource_type == broker_resources.BROKER_LOGGER:
        if not name:
            return ErrorCode.invalid_request, "Broker id must not be empty", []
        if not name.lstrip("-").isdigit() or int(name) != node.node_id:
            return (ErrorCode.invalid_request, f"Unexpected broker id, expected "
                    f"{node.node_id} but received {name}", [])
        return ErrorCode.none, None, broker_resources.describe_loggers()
    if resource.resource_type == group_configs.GROUP_RESOURCE:
        if not name:
            return ErrorCode.invalid_request, "Group name must not be empty", []
        overrides = configs.get(ConfigResource(group_configs.GROUP_RESOURCE, name))
        return ErrorCode.none, None, group_configs.describe_group_configs(node.config, overrides)
    kind = _RESOURCE_TYPES.get(resource.resource_type, str(resource.resource_type))
    return ErrorCode.invalid_request, f"Unsupported resource type: {kind}", []


# A denied resource's message: Kafka's for the error code (ConfigHelper sets it).
_DENIED = {ErrorCode.topic_authorization_failed: "Topic authorization failed.",
           ErrorCode.group_authorization_failed: "Group authorization failed.",
           ErrorCode.cluster_authorization_failed: "Cluster authorization failed."}

# Kafka's ConfigResource.Type names of the types kraft does not describe.
_RESOURCE_TYPES = {0: "UNKNOWN", 8: "BROKER_LOGGER", 16: "CLIENT_METRICS"}


def _denied(access: Access, ctx: RequestContext, resource_type: int,
            name: str) -> ErrorCode | None:
    """DESCRIBE_CONFIGS on the topic, group or (for brokers) the cluster; the error
    when it is denied (Kafka's ConfigHelper), else None."""
    op = AclOperation.DESCRIBE_CONFIGS
    if resource_type == TOPIC_RESOURCE:
        if not access.allowed(ctx, op, ResourceType.TOPIC, name):
            return ErrorCode.topic_authorization_failed
    elif resource_type == group_configs.GROUP_RESOURCE:
        if not access.allowed(ctx, op, ResourceType.GROUP, name):
            return ErrorCode.group_authorization_failed
    elif not access.cluster(ctx, op):
        return ErrorCode.cluster_authorization_failed
    return None
