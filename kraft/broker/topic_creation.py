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
from typing import TYPE_CHECKING

from kio.schema.create_topics.v7.request import CreatableTopic, CreateTopicsRequest
from kio.schema.errors import ErrorCode

from kraft.broker.controller_channel import ControllerUnavailable
from kraft.controller.topics import validate_topic_name
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import NO_LEADER

if TYPE_CHECKING:
    from kraft.broker.server import BrokerServer


def invalid_name(name: str) -> str | None:
    """Why `name` cannot be a topic name (None if it can)."""
    return validate_topic_name(name)


def topics_ready(image: MetadataImage, names: list[str]) -> bool:
    """Every named topic exists and each of its partitions has a leader."""
    for name in names:
        topic = image.topics.by_name.get(name)
        if topic is None or any(p.leader == NO_LEADER for p in topic.partitions.values()):
            return False
    return True


async def auto_create(
    broker: BrokerServer, names: list[str], wait_s: float
) -> dict[str, ErrorCode]:
    """Create `names` with the broker defaults; the controller's error per name
    (NONE for created), after waiting up to `wait_s` for them to be usable here."""
    request = CreateTopicsRequest(
        topics=tuple(
            CreatableTopic(
                name=name, num_partitions=-1, replication_factor=-1, assignments=(), configs=()
            )
            for name in dict.fromkeys(names)
        ),
        timeout=timedelta(seconds=wait_s),
        validate_only=False,
    )
    try:
        response = await broker.channel.send(request, timeout_s=wait_s)
    except ControllerUnavailable:
        return {name: ErrorCode.leader_not_available for name in names}
    errors = {result.name: result.error_code for result in response.topics}
    created = [n for n, code in errors.items() if code in (ErrorCode.none,
                                                          ErrorCode.topic_already_exists)]
    if created:
        await broker.wait_for_image(lambda image: topics_ready(image, created), wait_s)
    return errors
