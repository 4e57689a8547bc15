"""DeleteTopics (20), versions 1-6: forwarded by brokers; kraft.controller.topics.delete_topics.

Error shape: every topic of the request (by name before v6, by name or id
from v6) gets the code. The broker answers once every deleted topic is gone
from its image.
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
    cls = response_type(ApiKey.DELETE_TOPICS, version)
    item = nested(cls, "DeletableTopicResult")
    if version >= 6:
        entries = [(t.name, t.topic_id) for t in request.topics]
    else:
        entries = [(name, _NULL_ID) for name in request.topic_names]
    return build(cls, throttle_time=timedelta(0), responses=tuple(
        build(item, name=name, topic_id=topic_id or _NULL_ID, error_code=code,
              error_message=message)
        for name, topic_id in entries
    ))


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    names = [t.name for t in response.responses if t.error_code == ErrorCode.none and t.name]
    return partial(_all_gone, names) if names else None


def _all_gone(names: list[str], image: MetadataImage) -> bool:
    return not any(name in image.topics.by_name for name in names)


API = ControllerApi(
    ApiSpec(ApiKey.DELETE_TOPICS, 1, 6),
    command=topics.delete_topics,
    error_response=_error_response,
    forwarded=Forwarded(visible=_visible),
)
