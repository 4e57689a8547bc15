"""Config commands of the quorum controller: IncrementalAlterConfigs and AlterConfigs.

Versions: IncrementalAlterConfigs (key 44) v0-1, AlterConfigs (key 33) v0-2.
Pure functions `(image, request, version, ctx) -> ControllerResult` like the
topic commands: they return ConfigRecords (value None deletes a config) and
the response, one entry per requested resource in request order, and
mutate nothing. `validate_only` answers the same and writes nothing.

Resources: TOPIC (2), named by topic; BROKER (4), named "" for the
cluster-wide default or by a broker id; GROUP (32), named by group id (the
group need not exist, as in Kafka). Other types fail with INVALID_REQUEST.
A resource that fails writes nothing; the others still apply.

Checks and wording are Kafka's, in Kafka's order: first what the receiving
broker checks (`ConfigAdminManager.preprocess`: a resource named twice,
a config named twice, a null value for anything but DELETE, an unknown
resource type or operation), then what the controller checks
(`ConfigurationControlManager` with `ControllerConfigurationValidator`):

- TOPIC: the name must be a valid topic name; APPEND/SUBTRACT need a LIST
  config (INVALID_CONFIG); the resulting whole set of overrides must pass
  `validate_topic_configs` (INVALID_CONFIG); the topic must exist
  (UNKNOWN_TOPIC_OR_PARTITION). Only configs whose value changes are written.
- BROKER: the name must be "" or a non-negative integer (INVALID_REQUEST);
  each changed config must pass `validate_broker_config` (INVALID_REQUEST,
  as Kafka: KAFKA-13609); the id must be a registered broker or a controller
  (BROKER_ID_NOT_REGISTERED). Every operation writes a record even when the
  value is unchanged, so brokers reload (Kafka's KAFKA-14136).
- GROUP: the name must not be empty (INVALID_REQUEST); APPEND/SUBTRACT need
  a LIST config, which no group config is (INVALID_CONFIG); the resulting
  whole set must pass `validate_group_configs` with this controller's
  bounds (INVALID_CONFIG). Only configs whose value changes are written.

APPEND adds the comma-separated values missing from the current value (or
from the default when there is none); SUBTRACT removes the first occurrence
of each. Legacy AlterConfigs replaces the resource's whole set: configs not
in the request are deleted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.config import ConfigError
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.controller.topics import MAX_RECORDS_PER_USER_OP, validate_topic_name
from kraft.group_configs import GROUP_RESOURCE, validate_group_configs
from kraft.metadata.image import ConfigResource, MetadataImage
from kraft.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE, ConfigRecord
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.topic_configs import (
    config_default,
    is_list_config,
    validate_broker_config,
    validate_topic_configs,
)

__all__ = [
    "ALTER_CONFIGS_VERSIONS",
    "APPEND",
    "DELETE",
    "INCREMENTAL_ALTER_CONFIGS_VERSIONS",
    "SET",
    "SUBTRACT",
    "alter_configs",
    "incremental_alter_configs",
]

INCREMENTAL_ALTER_CONFIGS_VERSIONS: Final = (0, 1)
ALTER_CONFIGS_VERSIONS: Final = (0, 2)

# Kafka's AlterConfigOp.OpType ids.
SET: Final = 0
DELETE: Final = 1
APPEND: Final = 2
SUBTRACT: Final = 3
_OP_NAMES: Final = {APPEND: "APPEND", SUBTRACT: "SUBTRACT"}

# Kafka's ConfigResource.Type ids of the types kraft does not store configs for.
_KNOWN_UNSUPPORTED_TYPES: Final = {8: "BROKER_LOGGER", 16: "CLIENT_METRICS"}
_STORED_TYPES: Final = (TOPIC_RESOURCE, BROKER_RESOURCE, GROUP_RESOURCE)
_INT32 = re.compile(r"[+-]?[0-9]+")
_NO_THROTTLE: Final = timedelta(0)
_TOO_LARGE: Final = "Unable to perform excessively large batch operation."

Error = tuple[ErrorCode, str | None]
# A resource's outcome: its records, or its error.
Outcome = list[ConfigRecord] | Error
_OK: Final[Error] = (ErrorCode.none, None)


def incremental_alter_configs(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """IncrementalAlterConfigs v0-1: SET / DELETE / APPEND / SUBTRACT per config."""

    def alter(resource: Any) -> Outcome:
        nulls = [c.name for c in resource.configs
                 if c.config_operation != DELETE and c.value is None]
        if nulls:
            return ErrorCode.invalid_request, "Null value not supported for : " + ", ".join(nulls)
        for c in resource.configs:
            if c.config_operation not in (SET, DELETE, APPEND, SUBTRACT):
                return ErrorCode.invalid_request, f"Unknown operations type {c.config_operation}"
        ops = [(c.name, c.config_operation, c.value) for c in resource.configs]
        return _alter_resource(image, ctx, resource.resource_type, resource.resource_name,
                               lambda current, rtype: _apply_ops(current, ops, rtype))

    return _alter(image, request, version, ApiKey.INCREMENTAL_ALTER_CONFIGS, alter)


def alter_configs(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """AlterConfigs v0-2 (legacy): replace each resource's whole set of dynamic configs."""

    def alter(resource: Any) -> Outcome:
        nulls = [c.name for c in resource.configs if c.value is None]
        if nulls:
            return ErrorCode.invalid_request, "Null value not supported for : " + ", ".join(nulls)
        wanted = {c.name: c.value for c in resource.configs}
        return _alter_resource(image, ctx, resource.resource_type, resource.resource_name,
                               lambda current, rtype: _replace(current, wanted))

    return _alter(image, request, version, ApiKey.ALTER_CONFIGS, alter)


def _alter(
    image: MetadataImage,
    request: Any,
    version: int,
    api_key: ApiKey,
    alter: Callable[[Any], Outcome],
) -> ControllerResult[Any]:
    """Run `alter` on each resource of the request; build the response and the records."""
    response_cls = response_type(api_key, version)
    entry_cls = nested(response_cls, "AlterConfigsResourceResponse")
    named = Counter((r.resource_type, r.resource_name) for r in request.resources)
    outcomes: list[Outcome] = []
    for resource in request.resources:
        if named[(resource.resource_type, resource.resource_name)] > 1:
            outcomes.append((ErrorCode.invalid_request, "Each resource must appear at most once."))
        elif len({c.name for c in resource.configs}) != len(resource.configs):
            outcomes.append((ErrorCode.invalid_request, "Error due to duplicate config keys"))
        else:
            outcomes.append(alter(resource))
    records = [r for o in outcomes if isinstance(o, list) for r in o]
    if len(records) > MAX_RECORDS_PER_USER_OP:
        outcomes = [(ErrorCode.policy_violation, _TOO_LARGE)] * len(outcomes)
        records = []
    entries = []
    for resource, outcome in zip(request.resources, outcomes, strict=True):
        code, message = _OK if isinstance(outcome, list) else outcome
        entries.append(build(entry_cls, error_code=code, error_message=message,
                             resource_type=resource.resource_type,
                             resource_name=resource.resource_name))
    response = build(response_cls, throttle_time=_NO_THROTTLE, responses=tuple(entries))
    return ControllerResult(() if request.validate_only else tuple(records), response)


# The new whole set of a resource's configs from its current set, or an error.
# The int is the resource type (for list types and defaults).
Change = Callable[[Mapping[str, str], int], "dict[str, str | None] | Error"]


def _alter_resource(
    image: MetadataImage,
    ctx: ControllerContext,
    resource_type: int,
    name: str,
    change: Change,
) -> Outcome:
    """Validate and compute the records of one resource (Kafka's controller checks)."""
    if resource_type not in _STORED_TYPES:
        if resource_type in _KNOWN_UNSUPPORTED_TYPES:
            return (ErrorCode.invalid_request,
                    f"Unsupported resource type {_KNOWN_UNSUPPORTED_TYPES[resource_type]}.")
        return ErrorCode.invalid_request, f"Unknown resource type {resource_type}"
    broker = resource_type == BROKER_RESOURCE
    if broker:
        error = _broker_name_error(name)
    elif resource_type == GROUP_RESOURCE:
        error = (None if name else
                 (ErrorCode.invalid_request, "Default group resources are not allowed."))
    else:
        error = _topic_resource_error(name)
    if error is not None:
        return error
    current = image.configs.get(ConfigResource(resource_type, name))
    updated = change(current, resource_type)
    if isinstance(updated, tuple):
        return updated
    merged = {k: v for k, v in {**current, **updated}.items() if v is not None}
    if broker:
        error = _broker_values_error(name, updated)
        if error is None and name and not _is_known_node(image, ctx, int(name)):
            error = ErrorCode.broker_id_not_registered, f"No node with id {int(name)} found."
    elif resource_type == GROUP_RESOURCE:
        message = validate_group_configs(merged, ctx.config)
        if message is not None:
            error = ErrorCode.invalid_config, message
    else:
        message = validate_topic_configs(merged)
        if message is not None:
            error = ErrorCode.invalid_config, message
        elif name not in image.topics.by_name:
            error = ErrorCode.unknown_topic_or_partition, f"The topic '{name}' does not exist."
    if error is not None:
        return error
    return [
        ConfigRecord(resource_type=resource_type, resource_name=name, name=key, value=value)
        for key, value in updated.items()
        # Topic and group configs are written only when they change; broker configs
        # always (reload).
        if broker or current.get(key) != value
    ]


def _topic_resource_error(name: str) -> Error | None:
    if not name:
        return ErrorCode.invalid_request, "Default topic resources are not allowed."
    message = validate_topic_name(name)
    return None if message is None else (ErrorCode.invalid_topic_exception, message)


def _broker_name_error(name: str) -> Error | None:
    """"" (cluster default) or a non-negative int32 broker id, as Kafka's validator."""
    if not name:
        return None
    if not _INT32.fullmatch(name) or not -(2**31) <= int(name) < 2**31:
        return ErrorCode.invalid_request, "Unable to parse broker name as a base 10 number."
    if int(name) < 0:
        return ErrorCode.invalid_request, "Invalid negative broker ID."
    return None


def _is_known_node(image: MetadataImage, ctx: ControllerContext, node_id: int) -> bool:
    """A registered broker, this controller, or a static quorum voter (Kafka's existence
    check accepts broker registrations and controller ids)."""
    if node_id in image.cluster.brokers or node_id == ctx.config.node_id:
        return True
    try:
        return node_id in ctx.config.quorum_voters
    except ConfigError:  # a malformed voters list is reported where the node starts
        return False


def _broker_values_error(name: str, updated: Mapping[str, str | None]) -> Error | None:
    """The first broker config set to a value it may not take dynamically (INVALID_REQUEST).

    Deleting a dynamic value is always allowed (Kafka validates the resulting set)."""
    for key, value in updated.items():
        if value is None:
            continue
        message = validate_broker_config(key, value, per_broker=bool(name))
        if message is not None:
            return ErrorCode.invalid_request, message
    return None


def _java_split(value: str) -> list[str]:
    """Java's String.split(","): trailing empty strings are dropped."""
    parts = value.split(",")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _apply_ops(
    current: Mapping[str, str], ops: list[tuple[str, int, str | None]], resource_type: int
) -> dict[str, str | None] | Error:
    """The values IncrementalAlterConfigs operations give (None = delete), or an error."""
    updated: dict[str, str | None] = {}
    for key, op, value in ops:
        if op == SET:
            updated[key] = value
        elif op == DELETE:
            updated[key] = None
        else:
            broker = resource_type == BROKER_RESOURCE
            # No group config is a LIST (Kafka's GroupConfig), so neither op applies there.
            is_list = resource_type != GROUP_RESOURCE and is_list_config(key, broker=broker)
            if not is_list:
                if broker:
                    verb = "append" if op == APPEND else "subtract"
                    return (ErrorCode.invalid_config,
                            f"Config value {verb} is not allowed for config key: {key}")
                return (ErrorCode.invalid_config,
                        f"Can't {_OP_NAMES[op]} to key {key} because its type is not LIST.")
            base = current.get(key)
            if base is None:
                base = config_default(key, broker=broker)
            items = [i for i in (base or "").split(",") if i]
            assert value is not None  # null values were rejected before
            for item in _java_split(value):
                if op == APPEND and item not in items:
                    items.append(item)
                elif op == SUBTRACT and item in items:
                    items.remove(item)
            updated[key] = ",".join(items)
    return updated


def _replace(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str | None]:
    """Legacy AlterConfigs: the request's values, and deletion of every other config."""
    updated: dict[str, str | None] = dict(wanted)
    for key in current:
        if key not in wanted:
            updated[key] = None
    return updated
