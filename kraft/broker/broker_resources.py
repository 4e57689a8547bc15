"""The config resources a broker answers itself: its loggers, and another broker's id.

Kafka's brokers answer part of an IncrementalAlterConfigs before forwarding
the rest to the controller (ConfigAdminManager.preprocess); kraft does the
same, so `kafka-configs --entity-type broker-loggers` works:

- BROKER_LOGGER (resource type 8, named by this broker's id): the log levels
  of this process's loggers. DescribeConfigs lists `root` and every `kraft`
  logger with its effective level in Kafka's names (TRACE, DEBUG, INFO, WARN,
  ERROR, FATAL), source DYNAMIC_BROKER_LOGGER_CONFIG. IncrementalAlterConfigs
  SET changes a level, DELETE gives it back to its parent (not for root);
  APPEND/SUBTRACT, an unknown logger or level are refused with Kafka's
  messages. It needs ALTER_CONFIGS on the cluster. Levels are not persisted:
  a restart starts from --log-level, as Kafka's restart starts from its
  log4j configuration.
- A BROKER resource naming another broker: INVALID_REQUEST "Unexpected broker
  id, expected N, but received M" (a client sends per-broker changes to that
  broker), or "Node id must be an integer, but it is: X".

Everything else is forwarded (kraft.broker.forwarding), and the answers are
put back in the request's order.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.metadata.records import BROKER_RESOURCE
from kraft.net.registry import RequestContext
from kraft.security.access import Access
from kraft.security.acl import AclOperation
from kraft.topic_configs import ConfigEntry

__all__ = ["BROKER_LOGGER", "describe_loggers", "preprocess"]

BROKER_LOGGER = 8
DYNAMIC_BROKER_LOGGER_CONFIG = 6
ROOT = "root"
TRACE = 5
_SET, _DELETE, _APPEND, _SUBTRACT = 0, 1, 2, 3
_OP_NAMES = {_APPEND: "APPEND", _SUBTRACT: "SUBTRACT"}
# Kafka's LogLevelConfig.VALID_LOG_LEVELS, and the Python level each stands for.
_LEVELS = {"DEBUG": logging.DEBUG, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL,
           "INFO": logging.INFO, "TRACE": TRACE, "WARN": logging.WARNING}
_NAMES = {TRACE: "TRACE", logging.DEBUG: "DEBUG", logging.INFO: "INFO",
          logging.WARNING: "WARN", logging.ERROR: "ERROR", logging.CRITICAL: "FATAL"}

Answer = tuple[ErrorCode, str | None]


def _loggers() -> dict[str, logging.Logger]:
    """root and every kraft logger that exists in this process, by Kafka name."""
    found = {ROOT: logging.getLogger()}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and (name == "kraft"
                                                   or name.startswith("kraft.")):
            found[name] = logger
    return found


def _level_name(level: int) -> str:
    return _NAMES.get(level) or next(
        (n for lv, n in sorted(_NAMES.items(), reverse=True) if level >= lv), "TRACE")


def describe_loggers() -> list[ConfigEntry]:
    """The BROKER_LOGGER entries: every logger with its effective level."""
    return [ConfigEntry(name=name, value=_level_name(logger.getEffectiveLevel()),
                        source=DYNAMIC_BROKER_LOGGER_CONFIG, read_only=False,
                        is_sensitive=False, is_default=False, type=0, documentation="",
                        synonyms=())
            for name, logger in sorted(_loggers().items())]


def _node_id_error(node_id: int, name: str) -> Answer | None:
    """Kafka's validateResourceNameIsCurrentNodeId."""
    try:
        named = int(name)
    except ValueError:
        return ErrorCode.invalid_request, f"Node id must be an integer, but it is: {name}"
    if named != node_id:
        return (ErrorCode.invalid_request,
                f"Unexpected broker id, expected {node_id}, but received {name}")
    return None


def _alter_loggers(resource: Any, validate_only: bool) -> Answer:
    """Validate every operation of a BROKER_LOGGER resource, then apply them all."""
    loggers = _loggers()
    changes: list[tuple[logging.Logger, int]] = []
    for op in resource.configs:
        kind, name, value = op.config_operation, op.name, op.value
        if kind in _OP_NAMES:
            return (ErrorCode.invalid_request,
                    f"{_OP_NAMES[kind]} operation is not allowed for the BROKER_LOGGER resource")
        if kind not in (_SET, _DELETE):
            return (ErrorCode.invalid_request,
                    f"Unknown operation type {kind} is not allowed for the BROKER_LOGGER resource")
        if name not in loggers:
            return ErrorCode.invalid_config, f"Logger {name} does not exist!"
        if kind == _DELETE:
            if name == ROOT:
                return (ErrorCode.invalid_request,
                        f"Removing the log level of the {ROOT} logger is not allowed")
            changes.append((loggers[name], logging.NOTSET))
        elif value not in _LEVELS:
            return (ErrorCode.invalid_config,
                    f"Cannot set the log level of {name} to {value} as it is not a supported "
                    f"log level. Valid log levels are {', '.join(sorted(_LEVELS))}")
        else:
            changes.append((loggers[name], _LEVELS[value]))
    if not validate_only:
        for logger, level in changes:
            logger.setLevel(level)
        logging.getLogger("kraft.broker").info(
            "log levels changed: %s", ", ".join(f"{op.name}={op.value or 'parent'}"
                                                for op in resource.configs))
    return ErrorCode.none, None


def preprocess(node_id: int, access: Access, ctx: RequestContext,
               request: Any) -> tuple[dict[int, Answer], Any]:
    """({index of a resource answered here: its answer}, the request with the other
    resources) for an IncrementalAlterConfigs request."""
    local: dict[int, Answer] = {}
    kept = []
    for index, resource in enumerate(request.resources):
        if resource.resource_type == BROKER_LOGGER:
            if not access.cluster(ctx, AclOperation.ALTER_CONFIGS):
                local[index] = ErrorCode.cluster_authorization_failed, None
            elif (error := _node_id_error(node_id, resource.resource_name)) is not None:
                local[index] = error
            else:
                local[index] = _alter_loggers(resource, request.validate_only)
        elif resource.resource_type == BROKER_RESOURCE and resource.resource_name != "" and (
                error := _node_id_error(node_id, resource.resource_name)) is not None:
            local[index] = error
        else:
            kept.append(resource)
    return local, dataclasses.replace(request, resources=tuple(kept))


def merge(request: Any, local: dict[int, Answer], forwarded: Any,
          item: Callable[..., Any]) -> Any:
    """`forwarded` (the controller's answer to the kept resources) with the local
    answers, every resource in the order the request named it."""
    queue: dict[tuple[int, str], list[Any]] = {}
    for answer in forwarded.responses:
        queue.setdefault((answer.resource_type, answer.resource_name), []).append(answer)
    responses = []
    for index, resource in enumerate(request.resources):
        if index in local:
            code, message = local[index]
            responses.append(item(error_code=code, error_message=message,
                                  resource_type=resource.resource_type,
                                  resource_name=resource.resource_name))
        else:
            answers = queue.get((resource.resource_type, resource.resource_name))
            if answers:
                responses.append(answers.pop(0))
    leftover = [a for answers in queue.values() for a in answers]
    return dataclasses.replace(forwarded, responses=tuple(responses + leftover))

