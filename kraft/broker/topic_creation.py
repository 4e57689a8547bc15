"""Auto topic creation (Kafka's AutoTopicCreationManager), for Metadata.

Unknown topics named in a Metadata request are created through the active
controller with the broker defaults (num.partitions,
default.replication.factor), exactly as an explicit CreateTopics with -1 for
both would be. The broker then waits, up to the caller's bound, until the
topics are in its own image with a leader for every partition, so the client
can use them at once instead of retrying.
"""

from __future__ import annotations

from datetime import timedelta

from kio.schema.create_topics.v7.request import CreatableTopic, CreateTopicsRequest
from kio.schema.errors import ErrorCode
from kio.schema.types import TopicName
from kio.static.primitive import i16, i32, i32Timedelta

from kraft.broker.controller_channel import ControllerChannel, ControllerUnavailable
from kraft.broker.metadata_cache import MetadataCache
from kraft.controller.topics import validate_topic_name


def invalid_name(name: str) -> str | None:
    """Why `name` cannot be a topic name (None if it can)."""
    return validate_topic_name(name)


async def auto_create(
    channel: ControllerChannel, metadata: MetadataCache, names: list[str], wait_s: float
) -> dict[str, ErrorCode]:
    """Create `names` with the broker defaults; the controller's error per name
    (NONE for created), after waiting up to `wait_s` for them to be usable here."""
    request = CreateTopicsRequest(
        topics=tuple(
            CreatableTopic(
                name=TopicName(name), num_partitions=i32(-1), replication_factor=i16(-1),
                assignments=(), configs=()
            )
            for name in dict.fromkeys(names)
        ),
        timeout=i32Timedelta.parse(timedelta(seconds=wait_s)),
        validate_only=False,
    )
    try:
        response = await channel.send(request, timeout_s=wait_s)
    except ControllerUnavailable:
        return {name: ErrorCode.leader_not_available for name in names}
    errors = {result.name: result.error_code for result in response.topics}
    created = [n for n, code in errors.items() if code in (ErrorCode.none,
                                                          ErrorCode.topic_already_exists)]
    if created:
        await metadata.wait_for(lambda image: image.topics.have_leaders(created), wait_s)
    return errors
