"""UpdateFeatures on the controller (kraft.controller.features): Kafka's checks, in
Kafka's words, and the FeatureLevelRecords written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.schema.update_features.v0.request import FeatureUpdateKey as KeyV0
from kio.schema.update_features.v0.request import UpdateFeaturesRequest as RequestV0
from kio.schema.update_features.v1.request import FeatureUpdateKey, UpdateFeaturesRequest
from kio.schema.update_features.v2.request import FeatureUpdateKey as KeyV2
from kio.schema.update_features.v2.request import UpdateFeaturesRequest as RequestV2
from kio.static.primitive import i8, i16

from kraft.config import KafkaConfig
from kraft.controller.features import update_features
from kraft.controller.result import ControllerContext, apply_records
from kraft.metadata.image import EMPTY, MetadataImage
from kraft.metadata.records import (
    BrokerFeature,
    FeatureLevelRecord,
    RegisterBrokerRecord,
    RegisterControllerRecord,
)

CTX = ControllerContext(config=KafkaConfig({"node.id": "1"}), cluster_id="c",
                        voters=frozenset({1, 2}), kraft_version=1)
KRAFT_FEATURES = (BrokerFeature(name="metadata.version", min_supported_version=12,
                                max_supported_version=12),
                  BrokerFeature(name="transaction.version", min_supported_version=0,
                                max_supported_version=2))
PREFIX = "The update failed for all features since the following feature had an error: "


def _image(broker_tv_max: int = 2, controller_2: bool = True) -> MetadataImage:
    broker_features = (KRAFT_FEATURES[0], BrokerFeature(
        name="transaction.version", min_supported_version=0,
        max_supported_version=broker_tv_max))
    records: list[Any] = [
        FeatureLevelRecord(name="metadata.version", feature_level=12),
        FeatureLevelRecord(name="transaction.version", feature_level=2),
        RegisterBrokerRecord(broker_id=3, incarnation_id=uuid.UUID(int=3), broker_epoch=5,
                             features=broker_features),
        RegisterControllerRecord(controller_id=1, incarnation_id=uuid.UUID(int=1),
                                 features=KRAFT_FEATURES),
    ]
    if controller_2:
        records.append(RegisterControllerRecord(controller_id=2, incarnation_id=uuid.UUID(int=2),
                                                features=KRAFT_FEATURES))
    return apply_records(EMPTY, records)


def _request(*updates: tuple[str, int, int], validate_only: bool = False) -> Any:
    return UpdateFeaturesRequest(
        feature_updates=tuple(FeatureUpdateKey(feature=name, max_version_level=i16(level),
                                               upgrade_type=i8(kind))
                              for name, level, kind in updates),
        validate_only=validate_only)


def _refusal(image: MetadataImage, *updates: tuple[str, int, int]) -> str:
    result = update_features(image, _request(*updates), 1, CTX)
    assert result.records == ()
    assert result.response.error_code == ErrorCode.invalid_update_version
    assert result.response.results == ()
    message: str = result.response.error_message
    assert message.startswith(PREFIX)
    return message.removeprefix(PREFIX)


@pytest.mark.parametrize(("updates", "reason"), [
    ((("transaction.version", 1, 1),), "Invalid update version 1 for feature "
     "transaction.version. Can't downgrade the version of this feature without setting the "
     "upgrade type to either safe or unsafe downgrade."),
    ((("transaction.version", 5, 1),), "Invalid update version 5 for feature "
     "transaction.version. Local controller 1 only supports versions 0-2"),
    ((("foo.version", 1, 1),), "Invalid update version 1 for feature foo.version. "
     "Local controller 1 does not support this feature."),
    ((("foo.version", 0, 2),), "Invalid update version 0 for feature foo.version. "
     "Feature foo.version not found."),
    ((("group.version", 1, 1),), "Invalid update version 1 for feature group.version. "
     "Local controller 1 does not support this feature."),
    ((("metadata.version", 13, 1),), "Invalid update version 13 for feature "
     "metadata.version. Local controller 1 only supports versions 12"),
    ((("transaction.version", -1, 2),), "Invalid update version -1 for feature "
     "transaction.version. A feature version cannot be less than 0."),
    ((("transaction.version", 1, 0),), "Invalid update version 1 for feature "
     "transaction.version. The controller does not support the given upgrade type."),
    ((("transaction.version", 1, 2), ("share.version", 1, 1)), "Invalid update version 1 "
     "for feature share.version. Local controller 1 does not support this feature."),
])
def test_refused_as_kafka_refuses(updates: tuple[tuple[str, int, int], ...],
                                  reason: str) -> None:
    """Each refused update fails the whole request with INVALID_UPDATE_VERSION and
    Kafka's message, and writes nothing (also the valid updates before it)."""
    assert _refusal(_image(), *updates) == reason


def test_every_registered_node_and_voter_must_support_the_level() -> None:
    """A broker registered with a narrower range, and a voter that has not registered,
    refuse the level, named as Kafka names them."""
    assert _refusal(_image(broker_tv_max=0), ("transaction.version", 1, 2)) == (
        "Invalid update version 1 for feature transaction.version. Broker 3 does not "
        "support this feature.")
    assert _refusal(_image(broker_tv_max=1), ("transaction.version", 2, 1)) != ""
    assert _refusal(_image(controller_2=False), ("transaction.version", 1, 2)) == (
        "Invalid update version 1 for feature transaction.version. controller 2 has not "
        "registered, and may not support this feature")


def test_kraft_version_is_not_changed_at_run_time() -> None:
    """kraft.version at the level in force is accepted and writes nothing; another level
    is refused with a message saying it is chosen at format time."""
    same = update_features(_image(), _request(("kraft.version", 1, 1)), 1, CTX)
    assert same.response.error_code == ErrorCode.none and same.records == ()
    assert "chosen when the nodes are formatted" in _refusal(
        _image(), ("kraft.version", 0, 2))


def test_downgrade_upgrade_and_disable_write_feature_level_records() -> None:
    """Safe downgrade, disable (level 0) and upgrade each write one FeatureLevelRecord
    and answer every feature NONE (v1); validate_only writes nothing."""
    image = _image()
    down = update_features(image, _request(("transaction.version", 1, 2)), 1, CTX)
    assert down.records == (FeatureLevelRecord(name="transaction.version", feature_level=1),)
    assert [(r.feature, r.error_code, r.error_message) for r in down.response.results] == \
        [("transaction.version", ErrorCode.none, None)]
    image = apply_records(image, down.records)
    assert image.features.levels["transaction.version"] == 1
    off = update_features(image, _request(("transaction.version", 0, 2)), 1, CTX)
    image = apply_records(image, off.records)
    assert "transaction.version" not in image.features.levels
    dry = update_features(image, _request(("transaction.version", 2, 1), validate_only=True),
                          1, CTX)
    assert dry.response.error_code == ErrorCode.none and dry.records == ()
    up = update_features(image, _request(("transaction.version", 2, 1),
                                         ("metadata.version", 12, 1)), 1, CTX)
    assert up.records == (FeatureLevelRecord(name="transaction.version", feature_level=2),
                          FeatureLevelRecord(name="metadata.version", feature_level=12))


def test_version_0_allow_downgrade_and_version_2_without_results() -> None:
    """v0's allow_downgrade is a safe downgrade (without it a lower level is refused);
    v2 answers without per-feature results."""
    v0 = RequestV0(feature_updates=(KeyV0(feature="transaction.version",
                                          max_version_level=i16(1), allow_downgrade=True),))
    assert update_features(_image(), v0, 0, CTX).records == (
        FeatureLevelRecord(name="transaction.version", feature_level=1),)
    refused = RequestV0(feature_updates=(KeyV0(feature="transaction.version",
                                               max_version_level=i16(1),
                                               allow_downgrade=False),))
    assert update_features(_image(), refused, 0, CTX).response.error_code == \
        ErrorCode.invalid_update_version
    v2 = RequestV2(feature_updates=(KeyV2(feature="transaction.version",
                                          max_version_level=i16(1), upgrade_type=i8(2)),))
    answer = update_features(_image(), v2, 2, CTX).response
    assert answer.error_code == ErrorCode.none and not hasattr(answer, "results")
