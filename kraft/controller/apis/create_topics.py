"""CreateTopics (19), versions 2-7: forwarded by brokers; kraft.controller.topics.create_topics.

Error shape: every topic of the request gets the code, with a zero topic id
and -1 partitions and replication factor. The broker answers once every
topic created is in its image with a leader for each partition.
"""

from __future__ import annotations

import uuid
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

_NULL_ID = uuid.UUID(int=0)


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.CREATE_TOPICS, version)
    item = nested(cls, "CreatableTopicResult")
    return build(cls, throttle_time=timedelta(0), topics=tuple(
        build(item, name=t.name, topic_id=_NULL_ID, error_code=code, error_message=message,
              num_partitions=-1, replication_factor=-1, configs=())
        for t in request.topics
    ))


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    names = [t.name for t in response.topics if t.error_code == ErrorCode.none]
    return partial(_have_leaders, names) if names else None


def _have_leaders(names: list[str], image: MetadataImage) -> bool:
    return image.topics.have_leaders(names)


API = ControllerApi(
    ApiSpec(ApiKey.CREATE_TOPICS, 2, 7),
    command=topics.create_topics,
    error_response=_error_response,
    forwarded=Forwarded(visible=_visible),
)
