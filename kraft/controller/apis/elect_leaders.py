"""ElectLeaders (43), versions 0-2: forwarded by brokers;
kraft.controller.elect_leaders.elect_leaders.

Error shape: v0 has no top-level error, so every partition of the request
gets the code (and the top level too, from v1). The broker answers once
every partition elected has, in its image, a leader epoch above the one it
knew when it forwarded the request. That baseline is the broker's image at
forwarding time; if it lagged behind an earlier leader change of that
partition, that change alone passes, so the wait may end before the election
shows (rare: the wait is a convenience, the election itself is committed).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import elect_leaders
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.ELECT_LEADERS, version)
    item = nested(cls, "ReplicaElectionResult")
    partition = nested(cls, "PartitionResult")
    return build(cls, throttle_time=timedelta(0), error_code=code, replica_election_results=tuple(
        build(item, topic=t.topic, partition_result=tuple(
            build(partition, partition_id=p, error_code=code, error_message=message)
            for p in t.partitions))
        for t in request.topic_partitions or ()
    ))


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    epochs = {}
    for t in response.replica_election_results:
        topic = before.topics.by_name.get(t.topic)
        for p in t.partition_result:
            if p.error_code == ErrorCode.none:
                known = topic.partitions.get(p.partition_id) if topic is not None else None
                epochs[(t.topic, p.partition_id)] = -1 if known is None else known.leader_epoch
    return partial(_epochs_above, epochs) if epochs else None


def _epochs_above(epochs: dict[tuple[str, int], int], image: MetadataImage) -> bool:
    """Every (topic, partition) still there has a leader epoch above the given one."""
    for (name, pid), epoch in epochs.items():
        topic = image.topics.by_name.get(name)
        partition = topic.partitions.get(pid) if topic is not None else None
        if partition is not None and partition.leader_epoch <= epoch:
            return False
    return True


API = ControllerApi(
    ApiSpec(ApiKey.ELECT_LEADERS, 0, 2),
    command=elect_leaders.elect_leaders,
    error_response=_error_response,
    forwarded=Forwarded(visible=_visible),
)
