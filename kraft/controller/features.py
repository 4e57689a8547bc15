"""UpdateFeatures on the controller (Kafka's FeatureControlManager.updateFeatures).

What `kafka-features upgrade / downgrade / disable` asks. Every update of a
request is checked in turn, as Kafka checks it; the first one refused fails
the whole request with INVALID_UPDATE_VERSION ("The update failed for all
features since the following feature had an error: Invalid update version L
for feature F. <reason>"), and nothing is written:

- the upgrade type must be known (UPGRADE 1, SAFE_DOWNGRADE 2, UNSAFE_DOWNGRADE
  3; version 0's allow_downgrade means SAFE_DOWNGRADE), the level not negative;
- kraft.version belongs to the raft quorum, not to FeatureLevelRecords: kraft
  chooses it when a node is formatted (0 with controller.quorum.voters, 1 with
  --standalone / --initial-controllers / --no-initial-controllers) and cannot
  change it at run time, so any other level than the one in force is refused
  saying so (Kafka 4.4 upgrades it through raft); the level in force is
  accepted and changes nothing;
- every node must support the level: this controller (SUPPORTED_FEATURES:
  "Local controller N only supports versions A-B", or "... does not support
  this feature" for one it does not know, whose range is 0-0), every
  registered broker and every other registered controller (their registered
  ranges), and every voter must have registered ("controller N has not
  registered, and may not support this feature"); level 0 of a feature
  nobody knows passes these, and Kafka then refuses a name it has never heard
  of ("Feature F not found.");
- a lower level needs a downgrade type, a higher one an upgrade;
- metadata.version: kraft writes exactly one level (12, 3.6-IV0), so only that
  level passes the support check, and setting it writes its record again, as
  Kafka does for the level in force.

Kafka also checks each feature level's dependencies on other features; those of
the levels kraft supports (transaction.version 0-2 on metadata.version 12) are
met, so there is nothing to refuse there. validate_only answers as if applied
and writes nothing. Otherwise one FeatureLevelRecord per update, all committed
together (a level of 0 removes the feature). Success answers every feature
with NONE in versions 0-1 (version 2 has no per-feature results).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller.registration_manager import SUPPORTED_FEATURES
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import (
    METADATA_VERSION,
    BrokerFeature,
    FeatureLevelRecord,
    MetadataRecord,
)
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested

__all__ = ["error_response", "update_features"]

KRAFT_VERSION = "kraft.version"
UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3

# Kafka 4.4's features besides metadata.version (Features.FEATURES): the names
# a level 0 may be written for.
KNOWN_FEATURES = frozenset({"eligible.leader.replicas.version", "group.version", KRAFT_VERSION,
                            "share.version", "streams.version", "transaction.version"})

Range = tuple[int, int]
_DISABLED: Range = (0, 0)


class _Refused(Exception):
    """One update refused: the reason, as Kafka words it."""


def error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    """The response refusing the whole request with `code` (no per-feature results)."""
    return build(response_type(ApiKey.UPDATE_FEATURES, version), throttle_time=timedelta(0),
                 error_code=code, error_message=message, results=())


def _range_text(low: int, high: int) -> str:
    """Kafka's VersionRange.toString."""
    return str(low) if low == high else f"{low}-{high}"


def _unsupported(level: int, what: str, supported: Range) -> str | None:
    """Kafka's QuorumFeatures.reasonNotSupported."""
    low, high = supported
    if low <= level <= high:
        return None
    if high == 0:
        return f"{what} does not support this feature."
    return f"{what} only supports versions {_range_text(low, high)}"


def _ranges(features: Iterable[BrokerFeature]) -> dict[str, Range]:
    return {f.name: (f.min_supported_version, f.max_supported_version) for f in features}


def _not_supported_anywhere(name: str, level: int, image: MetadataImage,
                            ctx: ControllerContext) -> str | None:
    """Why some node cannot run `name` at `level` (Kafka's reasonNotSupported):
    this controller, every registered broker, every other registered
    controller, and no voter unregistered."""
    node_id = ctx.config.node_id
    local = {f.name: (f.min_version, f.max_version) for f in SUPPORTED_FEATURES}
    reason = _unsupported(level, f"Local controller {node_id}", local.get(name, _DISABLED))
    if reason is not None:
        return reason
    for broker_id, broker in sorted(image.cluster.brokers.items()):
        reason = _unsupported(level, f"Broker {broker_id}",
                              _ranges(broker.features).get(name, _DISABLED))
        if reason is not None:
            return reason
    controllers = image.cluster.controllers
    for controller_id, registration in sorted(controllers.items()):
        if controller_id == node_id:
            continue
        reason = _unsupported(level, f"Controller {controller_id}",
                              _ranges(registration.features).get(name, _DISABLED))
        if reason is not None:
            return reason
    for voter in sorted(ctx.voters):
        if voter != node_id and voter not in controllers:
            return f"controller {voter} has not registered, and may not support this feature"
    return None


def _check(name: str, level: int, upgrade_type: int, current: int, image: MetadataImage,
           ctx: ControllerContext) -> bool:
    """Raise _Refused if the update may not be made; True if it writes a record."""
    if upgrade_type not in (UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE):
        raise _Refused("The controller does not support the given upgrade type.")
    if level < 0:
        raise _Refused("A feature version cannot be less than 0.")
    if name == KRAFT_VERSION:
        if level == ctx.kraft_version:
            return False
        raise _Refused(f"kraft.version is {ctx.kraft_version} and kraft does not change it at "
                       "run time: it is chosen when the nodes are formatted (1 with "
                       "--standalone, --initial-controllers or --no-initial-controllers, 0 "
                       "with controller.quorum.voters).")
    reason = _not_supported_anywhere(name, level, image, ctx)
    if reason is not None:
        raise _Refused(reason)
    if level < current and upgrade_type == UPGRADE:
        raise _Refused("Can't downgrade the version of this feature without setting the "
                       "upgrade type to either safe or unsafe downgrade.")
    if level > current and upgrade_type != UPGRADE:
        raise _Refused("Can't downgrade to a newer version.")
    if name != METADATA_VERSION and name not in KNOWN_FEATURES:
        raise _Refused(f"Feature {name} not found.")
    return True


def _upgrade_type(update: Any) -> int:
    if hasattr(update, "upgrade_type"):  # v1+
        return int(update.upgrade_type)
    return SAFE_DOWNGRADE if update.allow_downgrade else UPGRADE


def update_features(image: MetadataImage, request: Any, version: int,
                    ctx: ControllerContext) -> ControllerResult[Any]:
    """UpdateFeatures (module docstring)."""
    levels: Mapping[str, int] = image.features.levels
    records: list[MetadataRecord] = []
    for update in request.feature_updates:
        name, level = update.feature, int(update.max_version_level)
        try:
            if _check(name, level, _upgrade_type(update), levels.get(name, 0), image, ctx):
                records.append(FeatureLevelRecord(name=name, feature_level=level))
        except _Refused as refused:
            return ControllerResult((), error_response(
                version, request, ErrorCode.invalid_update_version,
                "The update failed for all features since the following feature had an "
                f"error: Invalid update version {level} for feature {name}. {refused}"))
    cls = response_type(ApiKey.UPDATE_FEATURES, version)
    result = nested(cls, "UpdatableFeatureResult") if version <= 1 else None
    response = build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                     error_message=None, results=tuple(
                         build(result, feature=u.feature, error_code=ErrorCode.none,
                               error_message=None)
                         for u in request.feature_updates) if result is not None else ())
    if getattr(request, "validate_only", False):
        return ControllerResult((), response)
    return ControllerResult(tuple(records), response)
