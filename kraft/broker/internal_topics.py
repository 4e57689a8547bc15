"""Internal topics: `__consumer_offsets` and `__transaction_state`, and which of their
partitions a group or a transactional id maps to (the same hash).

A group's coordinator is the leader of partition
`abs(java_hash(group_id)) % offsets.topic.num.partitions` of
`__consumer_offsets` (Kafka's GroupCoordinator.partitionFor, with Java's
String.hashCode and Kafka's Utils.abs, so every broker and every Kafka tool
agrees on the mapping). The topic is created on first use, as Kafka does,
with offsets.topic.num.partitions partitions, a replication factor of
offsets.topic.replication.factor lowered to the number of live brokers (so a
dev cluster of one works without configuration), and the topic configs
Kafka gives it (compacted, 100 MiB segments, producer compression).
"""

from __future__ import annotations

from datetime import timedelta

from kio.schema.errors import ErrorCode
from kio.schema.types import TopicName
from kio.static.primitive import i16, i32, i32Timedelta

from kraft.broker.controller_channel import ControllerChannel, ControllerUnavailable
from kraft.config import KafkaConfig
from kraft.metadata.image import MetadataImage

GROUP_METADATA_TOPIC = "__consumer_offsets"
TRANSACTION_STATE_TOPIC = "__transaction_state"
INTERNAL_TOPICS = frozenset({GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC})
OFFSETS_TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "compression.type": "producer",
}  # and segment.bytes: offsets.topic.segment.bytes (offsets_topic_configs)


def offsets_topic_configs(config: KafkaConfig) -> dict[str, str]:
    """The topic configs `__consumer_offsets` is created with (Kafka's
    GroupCoordinator.groupMetadataTopicConfigs)."""
    return {**OFFSETS_TOPIC_CONFIGS, "segment.bytes": str(config.offsets_topic_segment_bytes)}


def java_string_hash(text: str) -> int:
    """Java's String.hashCode: 31-based over UTF-16 code units, as a signed int32."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def kafka_abs(n: int) -> int:
    """Kafka's Utils.abs: |n|, with Integer.MIN_VALUE mapped to 0."""
    return 0 if n == -(1 << 31) else abs(n)


def partition_for(key: str, partitions: int) -> int:
    """The `__consumer_offsets` partition of a group id."""
    return kafka_abs(java_string_hash(key)) % partitions


async def create_offsets_topic(
    channel: ControllerChannel, image: MetadataImage, config: KafkaConfig, timeout_s: float
) -> ErrorCode:
    """Ask the controller to create `__consumer_offsets` (its replication factor
    lowered to the brokers alive in `image`); its error code (NONE,
    TOPIC_ALREADY_EXISTS when another broker won the race, or why not)."""
    # Imported here: a broker needs the request only when it creates the topic.
    from kio.schema.create_topics.v7.request import (
        CreatableTopic,
        CreatableTopicConfig,
        CreateTopicsRequest,
    )

    alive = sum(1 for b in image.cluster.brokers.values() if not b.fenced)
    replication = max(1, min(config.offsets_topic_replication_factor, alive))
    request = CreateTopicsRequest(
        topics=(
            CreatableTopic(
                name=TopicName(GROUP_METADATA_TOPIC),
                num_partitions=i32(config.offsets_topic_num_partitions),
                replication_factor=i16(replication),
                assignments=(),
                configs=tuple(CreatableTopicConfig(name=k, value=v)
                              for k, v in offsets_topic_configs(config).items()),
            ),
        ),
        timeout=i32Timedelta.parse(timedelta(seconds=timeout_s)),
        validate_only=False,
    )
    try:
        response = await channel.send(request, timeout_s)
    except ControllerUnavailable:
        return ErrorCode.coordinator_not_available
    return response.topics[0].error_code


def transaction_state_configs(config: KafkaConfig, replication: int) -> dict[str, str]:
    """The topic configs Kafka gives `__transaction_state` (TransactionLog): compacted,
    uncompressed, transaction.state.log.segment.bytes segments, min.insync.replicas
    transaction.state.log.min.isr -- lowered to the replication factor, as the
    replication factor is lowered to the live brokers, so a dev cluster of one can
    commit transactions without configuration."""
    return {
        "cleanup.policy": "compact",
        "compression.type": "uncompressed",
        "segment.bytes": str(config.transaction_state_log_segment_bytes),
        "min.insync.replicas": str(min(config.transaction_state_log_min_isr, replication)),
        "unclean.leader.election.enable": "false",
    }


async def create_transaction_state_topic(
    channel: ControllerChannel, image: MetadataImage, config: KafkaConfig, timeout_s: float
) -> ErrorCode:
    """Ask the controller to create `__transaction_state` (Kafka does on the first
    FindCoordinator for a transactional id); its error code as for
    `create_offsets_topic`."""
    # Imported here: a broker needs the request only when it creates the topic.
    from kio.schema.create_topics.v7.request import (
        CreatableTopic,
        CreatableTopicConfig,
        CreateTopicsRequest,
    )

    alive = sum(1 for b in image.cluster.brokers.values() if not b.fenced)
    replication = max(1, min(config.transaction_state_log_replication_factor, alive))
    request = CreateTopicsRequest(
        topics=(
            CreatableTopic(
                name=TopicName(TRANSACTION_STATE_TOPIC),
                num_partitions=i32(config.transaction_state_log_num_partitions),
                replication_factor=i16(replication),
                assignments=(),
                configs=tuple(CreatableTopicConfig(name=k, value=v) for k, v in
                              transaction_state_configs(config, replication).items()),
            ),
        ),
        timeout=i32Timedelta.parse(timedelta(seconds=timeout_s)),
        validate_only=False,
    )
    try:
        response = await channel.send(request, timeout_s)
    except ControllerUnavailable:
        return ErrorCode.coordinator_not_available
    return response.topics[0].error_code
