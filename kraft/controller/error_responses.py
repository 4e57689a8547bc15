"""Whole-request error responses for the APIs the controller serves.

When a request cannot reach the active controller at all (NOT_CONTROLLER on
a controller that is not active; REQUEST_TIMED_OUT on a broker that could
not forward it), every item of the request gets the same error, in the
response shape of that API and version. One function, used by the
controller's API layer and by the broker's forwarding.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.raft.rpc import error_response as raft_error_response

__all__ = ["error_response"]

_NULL_ID = uuid.UUID(int=0)


def error_response(
    api_key: int, version: int, request: Any, code: ErrorCode, message: str | None = None
) -> Any:
    """The response of (api_key, version) answering every item of `request` with `code`."""
    cls = response_type(api_key, version)
    assert cls is not None
    common: dict[str, Any] = {"throttle_time": timedelta(0)}
    if api_key == 19:  # CreateTopics
        item = nested(cls, "CreatableTopicResult")
        return build(cls, **common, topics=tuple(
            build(item, name=t.name, topic_id=_NULL_ID, error_code=code, error_message=message,
                  num_partitions=-1, replication_factor=-1, configs=())
            for t in request.topics
        ))
    if api_key == 20:  # DeleteTopics
        item = nested(cls, "DeletableTopicResult")
        if version >= 6:
            entries = [(t.name, t.topic_id) for t in request.topics]
        else:
            entries = [(name, _NULL_ID) for name in request.topic_names]
        return build(cls, **common, responses=tuple(
            build(item, name=name, topic_id=topic_id or _NULL_ID, error_code=code,
                  error_message=message)
            for name, topic_id in entries
        ))
    if api_key == 37:  # CreatePartitions
        item = nested(cls, "CreatePartitionsTopicResult")
        return build(cls, **common, results=tuple(
            build(item, name=t.name, error_code=code, error_message=message)
            for t in request.topics
        ))
    if api_key in (33, 44):  # AlterConfigs, IncrementalAlterConfigs
        item = nested(cls, "AlterConfigsResourceResponse")
        return build(cls, **common, responses=tuple(
            build(item, error_code=code, error_message=message, resource_type=r.resource_type,
                  resource_name=r.resource_name)
            for r in request.resources
        ))
    if api_key == 43:  # ElectLeaders: v0 has no top-level error, so answer per partition
        item = nested(cls, "ReplicaElectionResult")
        partition = nested(cls, "PartitionResult")
        return build(cls, **common, error_code=code, replica_election_results=tuple(
            build(item, topic=t.topic, partition_result=tuple(
                build(partition, partition_id=p, error_code=code, error_message=message)
                for p in t.partitions))
            for t in request.topic_partitions or ()
        ))
    if api_key == 45:  # AlterPartitionReassignments: the top-level error covers it
        return build(cls, **common, error_code=code, error_message=message, responses=(),
                     allow_replication_factor_change=getattr(
                         request, "allow_replication_factor_change", True))
    if api_key == 46:  # ListPartitionReassignments
        return build(cls, **common, error_code=code, error_message=message, topics=())
    if api_key == 55:  # DescribeQuorum (forwarded by brokers for admin tools, KIP-836)
        return raft_error_response(api_key, version, code, message)
    if api_key == 56:  # AlterPartition: the top-level error covers the request
        return build(cls, **common, error_code=code, topics=())
    if api_key == 62:  # BrokerRegistration
        return build(cls, **common, error_code=code, broker_epoch=-1)
    if api_key == 63:  # BrokerHeartbeat
        return build(cls, **common, error_code=code, is_caught_up=False, is_fenced=True,
                     should_shut_down=False)
    if api_key == 64:  # UnregisterBroker
        return build(cls, **common, error_code=code, error_message=message)
    if api_key == 67:  # AllocateProducerIds
        return build(cls, **common, error_code=code, producer_id_start=-1, producer_id_len=0)
    raise ValueError(f"no error response shape for api key {api_key}")
