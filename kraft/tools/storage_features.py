"""`kraft storage format --feature NAME=LEVEL`: the feature levels a cluster starts with.

Kafka 4.4's kafka-storage takes `--feature` for each of its features
(eligible.leader.replicas.version, group.version, kraft.version,
share.version, streams.version, transaction.version) and metadata.version;
what a node is formatted with goes into its bootstrap, and the first active
controller writes it into the metadata log. `bootstrap_features` checks the
flags as Kafka's Formatter does, with its messages, and returns the
FeatureLevelRecords to bootstrap with.

kraft runs:
- transaction.version 0, 1 or 2 (2 unless the flag says otherwise: kraft's
  controller bootstraps 2, as Kafka 4.x formats new clusters);
- kraft.version as the quorum flags make it (0 with controller.quorum.voters,
  1 with --standalone / --initial-controllers / --no-initial-controllers),
  so the flag may only repeat that level;
- level 0 of the others: KIP-848 consumer groups (group.version 1), eligible
  leader replicas, share groups and Streams groups are not built; a higher
  level is refused in one line saying so;
- metadata.version 12 (3.6-IV0) only, as with --release-version.
"""

from __future__ import annotations

from collections.abc import Sequence

from kraft.metadata.records import TRANSACTION_VERSION, FeatureLevelRecord

__all__ = ["FeatureError", "bootstrap_features"]

METADATA_VERSION = "metadata.version"
KRAFT_VERSION = "kraft.version"
# Kafka 4.4's features and their highest levels (kafka-storage version-mapping).
KAFKA_FEATURES = {
    "eligible.leader.replicas.version": 1,
    "group.version": 1,
    KRAFT_VERSION: 1,
    "share.version": 2,
    "streams.version": 1,
    TRANSACTION_VERSION: 2,
}
# The levels kraft runs, and why a higher one is refused.
KRAFT_MAX_LEVELS = {TRANSACTION_VERSION: 2, KRAFT_VERSION: 1}
NOT_BUILT = {
    "eligible.leader.replicas.version": "eligible leader replicas (KIP-966)",
    "group.version": "the consumer group protocol of KIP-848",
    "share.version": "share groups (KIP-932)",
    "streams.version": "Streams groups (KIP-1071)",
}
_FIRST_METADATA_LEVEL = 7  # 3.3-IV3
_LAST_METADATA_LEVEL = 34  # Kafka 4.4 accepts up to its unstable 4.4-IV3
_DYNAMIC_FLAGS = "--standalone, --initial-controllers, or --no-initial-controllers"


class FeatureError(Exception):
    """A --feature flag kafka-storage or kraft refuses; the message says which."""


def parse(spec: str) -> tuple[str, int]:
    """`NAME=LEVEL` as Kafka's StorageTool parses it."""
    name, sep, level = spec.partition("=")
    if not sep:
        raise FeatureError(f"Can't parse feature=level string {spec}: equals sign not found.")
    try:
        value = int(level.strip())
    except ValueError:
        value = None
    if value is None or not -(1 << 15) <= value < (1 << 15):
        raise FeatureError(f"Can't parse feature=level string {spec}: unable to parse "
                           f"{level.strip()} as a short.")
    return name.strip(), value


def bootstrap_features(specs: Sequence[str], release_version_given: bool,
                       dynamic_quorum: bool, metadata_level: int
                       ) -> tuple[list[FeatureLevelRecord], int | None]:
    """The FeatureLevelRecords `--feature` asks for (beyond kraft's defaults) and the
    metadata.version level it names (None if it names none). `dynamic_quorum`: one
    of the KIP-853 flags is used and controller.quorum.voters is empty.
    `metadata_level` is the level kraft runs. Raises FeatureError."""
    levels: dict[str, int] = {}
    for spec in specs:
        name, level = parse(spec)
        levels[name] = level
    metadata = levels.pop(METADATA_VERSION, None)
    if metadata is not None:
        if release_version_given:
            raise FeatureError("Use --release-version instead of --feature "
                               "metadata.version=X to avoid ambiguity.")
        if not _FIRST_METADATA_LEVEL <= metadata <= _LAST_METADATA_LEVEL:
            raise FeatureError(f"No MetadataVersion with feature level {metadata}. Valid "
                               f"feature levels are from {_FIRST_METADATA_LEVEL} to "
                               f"{_LAST_METADATA_LEVEL}.")
        if metadata != metadata_level:
            raise FeatureError(f"metadata.version={metadata} is not supported yet: kraft "
                               f"runs metadata.version {metadata_level}")
    unknown = sorted(set(levels) - set(KAFKA_FEATURES))
    if unknown:
        raise FeatureError(f"Unsupported feature: {unknown[0]}. Supported features are: "
                           f"{', '.join(sorted(KAFKA_FEATURES))}")
    if KRAFT_VERSION in levels:  # Kafka checks it before the levels' ranges
        _check_kraft_version(levels[KRAFT_VERSION], dynamic_quorum)
    for name, level in sorted(levels.items()):
        if not 0 <= level <= KAFKA_FEATURES[name]:
            raise FeatureError(f"No feature:{name} with feature level {level}")
    levels.pop(KRAFT_VERSION, None)  # the quorum flags decide it (checked above)
    records = []
    for name, level in sorted(levels.items()):
        if level > KRAFT_MAX_LEVELS.get(name, 0):
            raise FeatureError(f"{name}={level} is not supported yet: kraft does not build "
                               f"{NOT_BUILT[name]}; leave {name} at 0")
        if name == TRANSACTION_VERSION:
            records.append(FeatureLevelRecord(name=name, feature_level=level))
    return records, metadata


def _check_kraft_version(level: int, dynamic_quorum: bool) -> None:
    """Kafka 4.4's rule: kraft.version follows the quorum flags."""
    if level == 0 and dynamic_quorum:
        raise FeatureError(
            "Cannot set kraft.version to 0 if controller.quorum.voters is empty and one of "
            f"the flags {_DYNAMIC_FLAGS} is used. For dynamic controllers support, try "
            "removing the --feature flag for kraft.version.")
    if level != 0 and not dynamic_quorum:
        raise FeatureError(
            f"Cannot set kraft.version to {level} unless controller.quorum.voters is empty "
            f"and one of the flags {_DYNAMIC_FLAGS} is used. For dynamic controllers "
            f"support, try using one of {_DYNAMIC_FLAGS} and removing "
            "controller.quorum.voters.")
