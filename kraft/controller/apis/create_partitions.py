"""CreatePartitions (37), versions 0-3: forwarded by brokers;
kraft.controller.topics.create_partitions.

Error shape: every topic of the request gets the code. The broker answers
once every topic it grew has at least its new partition count in its image,
each partition with a leader.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import topics
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.CREATE_PARTITIONS, version)
    item = nested(cls, "CreatePartitionsTopicResult")
    return build(cls, throttle_time=timedelta(0), results=tuple(
        build(item, name=t.name, error_code=code, error_message=message)
        for t in request.topics
    ))


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    grown = {t.name for t in response.results if t.error_code == ErrorCode.none}
    counts = {t.name: t.count for t in request.topics if t.name in grown}
    return partial(_has_partitions, counts) if counts else None


def _has_partitions(counts: dict[str, int], image: MetadataImage) -> bool:
    """Every topic has at least its new partition count, each with a leader."""
    for name, count in counts.items():
        topic = image.topics.by_name.get(name)
        if topic is None or len(topic.partitions) < count:
            return False
    return image.topics.have_leaders(counts)


API = ControllerApi(
    ApiSpec(ApiKey.CREATE_PARTITIONS, 0, 3),
    command=topics.create_partitions,
    error_response=_error_response,
    forwarded=Forwarded(visible=_visible),
)
