"""Broker lifecycle commands: BrokerRegistration (62), BrokerHeartbeat (63),
UnregisterBroker (64) and session-expiry fencing (Kafka's ClusterControlManager,
BrokerHeartbeatManager.calculateNextBrokerState and the broker handlers of
ReplicationControlManager).

Theory of operation. A broker registers with a fresh incarnation id per
process; the controller answers with its *broker epoch*, the offset the
result's first record gets (`ctx.next_offset`), and writes a fenced
RegisterBrokerRecord. The broker then heartbeats; each heartbeat runs one
step of the per-broker state machine below, whose current state is read from
the image (and the heartbeat manager's controlled-shutdown offset):

    state               heartbeat                          next state
    FENCED              want_shut_down                     SHUTDOWN_NOW
    FENCED              !want_fence, caught up (*)         UNFENCED
    UNFENCED            want_fence (+ want_shut_down)      FENCED (SHUTDOWN_NOW)
    UNFENCED            want_shut_down, leads partitions   CONTROLLED_SHUTDOWN
    UNFENCED            want_shut_down, leads nothing      SHUTDOWN_NOW
    CONTROLLED_SHUTDOWN leads nothing and every active     SHUTDOWN_NOW
                        broker reached the shutdown offset
    anything else                                          unchanged

    (*) current_metadata_offset >= the offset of its RegisterBrokerRecord

A transition writes records: to FENCED or SHUTDOWN_NOW, the broker leaves
every ISR it can leave and its leaderships move (partition_change), then
BrokerRegistrationChange(fenced=True); to UNFENCED,
BrokerRegistrationChange(fenced=False) then elections for leaderless
partitions; to CONTROLLED_SHUTDOWN, BrokerRegistrationChange(
in_controlled_shutdown=True) then the same ISR/leadership moves as fencing.
The response describes the state after the records commit. Session expiry
(`fence_brokers`) writes the FENCED transition without a heartbeat.

Registration rules, as Kafka: a different cluster id is INCONSISTENT_CLUSTER_ID;
a registration whose broker still has a valid session (unfenced, heard from
within broker.session.timeout.ms) and another incarnation id is
DUPLICATE_BROKER_REGISTRATION, unless the request's previous_broker_epoch is
that registration's epoch (the same broker restarted, even after kill -9:
it need not wait out its old session; Kafka makes it wait); the same
incarnation id is a retry that
rewrites the registration keeping its epoch, fencing and controlled-shutdown
state; every finalized feature level must lie in the broker's supported range
(a broker that sends no metadata.version range supports level 1 only), else
UNSUPPORTED_VERSION. A new incarnation replacing a registration that was not
fenced first moves that registration's ISR memberships and leaderships away
(Kafka relies on the old session having expired and been fenced; we do it
in the same batch so a quickly restarted broker never re-registers while
still leading).

Deliberate differences from Kafka, noted for the reader: an unknown broker id
in a heartbeat is BROKER_ID_NOT_REGISTERED (KRaft Kafka answers
STALE_BROKER_EPOCH), so the broker knows to register again; a FENCED broker
that is unfenced while its registration still says in_controlled_shutdown has
that flag cleared in the same record (Kafka would leave a broker unfenced but
unusable). Log directories and ZK migration are not modelled
(is_migrating_zk_broker is refused, as Kafka's KRaft controller does).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.controller.heartbeats import BrokerHeartbeatManager
from kraft.controller.partition_change import (
    broker_available_changes,
    broker_unavailable_changes,
    leads_partitions,
)
from kraft.controller.result import ControllerContext, ControllerResult, apply_records
from kraft.metadata.image import BrokerRegistration, MetadataImage
from kraft.metadata.records import (
    METADATA_VERSION,
    BrokerEndpoint,
    BrokerFeature,
    BrokerRegistrationChangeRecord,
    MetadataRecord,
    RegisterBrokerRecord,
    UnregisterBrokerRecord,
)
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build

__all__ = [
    "MINIMUM_KRAFT_METADATA_VERSION",
    "BrokerControlState",
    "broker_heartbeat",
    "fence_brokers",
    "next_broker_state",
    "register_broker",
    "unregister_broker",
]


# The metadata.version level of 3.0-IV1, the first KRaft release (Kafka's
# MetadataVersion.MINIMUM_KRAFT_VERSION): what a broker that sends no range supports.
MINIMUM_KRAFT_METADATA_VERSION: Final = 1

_NO_THROTTLE: Final = timedelta(0)


class BrokerControlState(enum.Enum):
    """A broker's state as the controller sees it (Kafka's BrokerControlState)."""

    FENCED = "fenced"
    UNFENCED = "unfenced"
    CONTROLLED_SHUTDOWN = "controlled_shutdown"
    SHUTDOWN_NOW = "shutdown_now"

    @property
    def fenced(self) -> bool:
        return self in (BrokerControlState.FENCED, BrokerControlState.SHUTDOWN_NOW)

    @property
    def should_shut_down(self) -> bool:
        return self is BrokerControlState.SHUTDOWN_NOW

    @classmethod
    def of(cls, registration: BrokerRegistration) -> BrokerControlState:
        """The current state of a registered broker. A fenced broker has left any
        controlled shutdown (Kafka clears the shutdown offset on fencing)."""
        if registration.fenced:
            return cls.FENCED
        if registration.in_controlled_shutdown:
            return cls.CONTROLLED_SHUTDOWN
        return cls.UNFENCED


# --- BrokerRegistration ----------------------------------------------------------------


def _registration_response(version: int, error: ErrorCode, broker_epoch: int = -1) -> Any:
    return build(
        response_type(ApiKey.BROKER_REGISTRATION, version),
        throttle_time=_NO_THROTTLE,
        error_code=error,
        broker_epoch=broker_epoch,
    )


def _registration_failed(version: int, error: ErrorCode) -> ControllerResult[Any]:
    return ControllerResult((), _registration_response(version, error))


def _registration_features(
    image: MetadataImage, features: Iterable[Any]
) -> tuple[tuple[BrokerFeature, ...], str | None]:
    """The broker's features as recorded, or an error message if it cannot run at a
    finalized level (Kafka's `processRegistrationFeature`)."""
    finalized = image.features.levels
    out: list[BrokerFeature] = []
    for feature in features:
        out.append(
            BrokerFeature(
                name=feature.name,
                min_supported_version=feature.min_supported_version,
                max_supported_version=feature.max_supported_version,
            )
        )
    if not any(f.name == METADATA_VERSION for f in out):
        out.append(
            BrokerFeature(
                name=METADATA_VERSION,
                min_supported_version=MINIMUM_KRAFT_METADATA_VERSION,
                max_supported_version=MINIMUM_KRAFT_METADATA_VERSION,
            )
        )
    sent = {f.name for f in out}
    # A finalized feature the broker did not mention: it supports only level 0.
    unmentioned = [
        BrokerFeature(name=name, min_supported_version=0, max_supported_version=0)
        for name, level in finalized.items()
        if level != 0 and name not in sent
    ]
    for feature in [*out, *unmentioned]:
        default = MINIMUM_KRAFT_METADATA_VERSION if feature.name == METADATA_VERSION else 0
        level = finalized.get(feature.name, default)
        if not feature.min_supported_version <= level <= feature.max_supported_version:
            return (), (
                f"the broker does not support finalized version {level} of {feature.name}; "
                f"it supports {feature.min_supported_version} to "
                f"{feature.max_supported_version}"
            )
    return tuple(out), None


def register_broker(
    image: MetadataImage,
    request: Any,
    version: int,
    ctx: ControllerContext,
    heartbeats: BrokerHeartbeatManager,
) -> ControllerResult[Any]:
    """Handle BrokerRegistration v0-4 (see module doc). On success the response's
    broker epoch is the registration's epoch (`ctx.next_offset` for a new
    incarnation) and the broker counts as contacted at `ctx.now_ms`."""
    if request.cluster_id != ctx.cluster_id:
        return _registration_failed(version, ErrorCode.inconsistent_cluster_id)
    broker_id = request.broker_id
    incarnation_id = request.incarnation_id or uuid.UUID(int=0)
    existing = image.cluster.brokers.get(broker_id)
    new_incarnation = existing is None or existing.incarnation_id != incarnation_id
    # A broker that restarted (after kill -9 too) names the epoch it had: it is
    # the same broker coming back, not a second one with the same id (the log
    # dir lock rules that out), so it need not wait for its old session to
    # expire. Kafka waits (KIP-966 only records the epoch for ELR).
    restarted = (
        existing is not None
        and getattr(request, "previous_broker_epoch", -1) == existing.broker_epoch
    )
    if (
        existing is not None
        and new_incarnation
        and not restarted
        and heartbeats.has_valid_session(image, broker_id, ctx.now_ms)
    ):
        return _registration_failed(version, ErrorCode.duplicate_broker_registration)
    if getattr(request, "is_migrating_zk_broker", False):
        return _registration_failed(version, ErrorCode.broker_id_not_registered)
    features, problem = _registration_features(image, request.features)
    if problem is not None:
        return _registration_failed(version, ErrorCode.unsupported_version)

    records: list[MetadataRecord] = []
    endpoints = tuple(
        BrokerEndpoint(
            name=listener.name,
            host=listener.host,
            port=listener.port,
            security_protocol=listener.security_protocol,
        )
        for listener in request.listeners
    )
    if new_incarnation:
        if existing is not None and not existing.fenced:
            # The old incarnation's session expired but it was not fenced yet.
            records.extend(broker_unavailable_changes(image, broker_id, ctx.config))
        epoch, fenced, shutting_down = ctx.next_offset, True, False
    else:  # a retry: the registration keeps its epoch, fencing and shutdown state
        assert existing is not None
        epoch, fenced = existing.broker_epoch, existing.fenced
        shutting_down = existing.in_controlled_shutdown
    record = RegisterBrokerRecord(
        broker_id=broker_id,
        incarnation_id=incarnation_id,
        broker_epoch=epoch,
        endpoints=endpoints,
        features=features,
        rack=request.rack,
        fenced=fenced,
        in_controlled_shutdown=shutting_down,
    )
    records.append(record)
    heartbeats.register(
        broker_id,
        ctx.now_ms,
        ctx.next_offset + len(records) - 1,
        new_incarnation=new_incarnation,
    )
    return ControllerResult(
        tuple(records), _registration_response(version, ErrorCode.none, record.broker_epoch)
    )


# --- BrokerHeartbeat -------------------------------------------------------------------


def _heartbeat_response(
    version: int,
    error: ErrorCode,
    *,
    is_caught_up: bool = False,
    is_fenced: bool = True,
    should_shut_down: bool = False,
) -> Any:
    return build(
        response_type(ApiKey.BROKER_HEARTBEAT, version),
        throttle_time=_NO_THROTTLE,
        error_code=error,
        is_caught_up=is_caught_up,
        is_fenced=is_fenced,
        should_shut_down=should_shut_down,
    )


def next_broker_state(
    current: BrokerControlState,
    *,
    want_fence: bool,
    want_shut_down: bool,
    caught_up: bool,
    leads_partitions: bool,
    controlled_shutdown_done: bool,
) -> BrokerControlState:
    """One step of the heartbeat state machine (table in the module doc).

    `caught_up`: the heartbeat's metadata offset reached the registration record.
    `controlled_shutdown_done`: every active broker reached the shutdown offset.
    """
    state = BrokerControlState
    if current is state.FENCED:
        if want_shut_down:
            return state.SHUTDOWN_NOW
        if not want_fence and caught_up:
            return state.UNFENCED
        return state.FENCED
    if current is state.UNFENCED:
        if want_fence:
            return state.SHUTDOWN_NOW if want_shut_down else state.FENCED
        if want_shut_down:
            return state.CONTROLLED_SHUTDOWN if leads_partitions else state.SHUTDOWN_NOW
        return state.UNFENCED
    if current is state.CONTROLLED_SHUTDOWN:
        if not leads_partitions and controlled_shutdown_done:
            return state.SHUTDOWN_NOW
        return state.CONTROLLED_SHUTDOWN
    return state.SHUTDOWN_NOW


def _fence_records(
    image: MetadataImage, registration: BrokerRegistration, ctx: ControllerContext
) -> list[MetadataRecord]:
    """ISR/leadership moves for the broker, then its fencing (Kafka's handleBrokerFenced)."""
    records: list[MetadataRecord] = []
    records.extend(broker_unavailable_changes(image, registration.broker_id, ctx.config))
    records.append(
        BrokerRegistrationChangeRecord(
            broker_id=registration.broker_id,
            broker_epoch=registration.broker_epoch,
            fenced=True,
        )
    )
    return records


def _unfence_records(
    image: MetadataImage, registration: BrokerRegistration, ctx: ControllerContext
) -> list[MetadataRecord]:
    """The broker's unfencing, then elections for leaderless partitions."""
    change = BrokerRegistrationChangeRecord(
        broker_id=registration.broker_id,
        broker_epoch=registration.broker_epoch,
        fenced=False,
        in_controlled_shutdown=False if registration.in_controlled_shutdown else None,
    )
    unfenced = apply_records(image, [change])
    return [change, *broker_available_changes(unfenced, registration.broker_id, ctx.config)]


def _controlled_shutdown_records(
    image: MetadataImage, registration: BrokerRegistration, ctx: ControllerContext
) -> list[MetadataRecord]:
    """The broker enters controlled shutdown; its ISR memberships and leaderships move."""
    records: list[MetadataRecord] = []
    if not registration.in_controlled_shutdown:
        records.append(
            BrokerRegistrationChangeRecord(
                broker_id=registration.broker_id,
                broker_epoch=registration.broker_epoch,
                in_controlled_shutdown=True,
            )
        )
    records.extend(broker_unavailable_changes(image, registration.broker_id, ctx.config))
    return records


def broker_heartbeat(
    image: MetadataImage,
    request: Any,
    version: int,
    ctx: ControllerContext,
    heartbeats: BrokerHeartbeatManager,
) -> ControllerResult[Any]:
    """Handle BrokerHeartbeat v0-2: one step of the state machine (module doc).

    Records the contact and reported metadata offset in `heartbeats` (also when
    the step writes records); errors record nothing.
    """
    broker_id = request.broker_id
    registration = image.cluster.brokers.get(broker_id)
    if registration is None:
        error = ErrorCode.broker_id_not_registered
        return ControllerResult((), _heartbeat_response(version, error))
    if registration.broker_epoch != request.broker_epoch:
        return ControllerResult((), _heartbeat_response(version, ErrorCode.stale_broker_epoch))

    registration_offset = max(
        registration.broker_epoch, heartbeats.registration_offset(broker_id) or -1
    )
    caught_up = request.current_metadata_offset >= registration_offset
    current = BrokerControlState.of(registration)
    # Leaderships matter only to a shutting-down broker; scanning every partition on
    # every heartbeat of every broker would be wasted.
    leads = ((request.want_shut_down or current is BrokerControlState.CONTROLLED_SHUTDOWN)
             and leads_partitions(image, broker_id))
    shutdown_done = False
    if current is BrokerControlState.CONTROLLED_SHUTDOWN and not leads:
        # A controlled shutdown this controller did not start (it became active
        # since) waits for everything written so far.
        shutdown_offset = heartbeats.maybe_set_controlled_shutdown_offset(
            broker_id, ctx.next_offset - 1, ctx.now_ms
        )
        lowest = heartbeats.lowest_active_offset(image)
        shutdown_done = lowest is None or shutdown_offset <= lowest
    nxt = next_broker_state(
        current,
        want_fence=request.want_fence,
        want_shut_down=request.want_shut_down,
        caught_up=caught_up,
        leads_partitions=leads,
        controlled_shutdown_done=shutdown_done,
    )

    records: list[MetadataRecord] = []
    if nxt is not current:
        if nxt.fenced:
            records = _fence_records(image, registration, ctx)
        elif nxt is BrokerControlState.UNFENCED:
            records = _unfence_records(image, registration, ctx)
        else:
            records = _controlled_shutdown_records(image, registration, ctx)
    heartbeats.touch(broker_id, ctx.now_ms, request.current_metadata_offset, fenced=nxt.fenced)
    if nxt is BrokerControlState.CONTROLLED_SHUTDOWN:
        # Done once every active broker has replayed this batch (Kafka: the batch end offset).
        heartbeats.maybe_set_controlled_shutdown_offset(
            broker_id, ctx.next_offset + len(records) - 1, ctx.now_ms
        )
    return ControllerResult(
        tuple(records),
        _heartbeat_response(
            version,
            ErrorCode.none,
            is_caught_up=caught_up,
            is_fenced=nxt.fenced,
            should_shut_down=nxt.should_shut_down,
        ),
    )


# --- session expiry --------------------------------------------------------------------


def fence_brokers(
    image: MetadataImage, broker_ids: Iterable[int], ctx: ControllerContext
) -> ControllerResult[None]:
    """Fence brokers whose session expired (the controller passes
    `heartbeats.expired(...)`), in the given order, each seeing the earlier ones
    fenced. Brokers no longer registered or already fenced are skipped, since the
    image may have moved on since the ids were chosen."""
    records: list[MetadataRecord] = []
    current = image
    for broker_id in broker_ids:
        registration = current.cluster.brokers.get(broker_id)
        if registration is None or registration.fenced:
            continue
        fencing = _fence_records(current, registration, ctx)
        records.extend(fencing)
        current = apply_records(current, fencing)
    return ControllerResult(tuple(records), None)


# --- UnregisterBroker ------------------------------------------------------------------


def unregister_broker(
    image: MetadataImage,
    request: Any,
    version: int,
    ctx: ControllerContext,
    heartbeats: BrokerHeartbeatManager,
) -> ControllerResult[Any]:
    """Handle UnregisterBroker v0: the broker's ISR memberships and leaderships move,
    then UnregisterBrokerRecord; BROKER_ID_NOT_REGISTERED if it is not registered."""
    cls = response_type(ApiKey.UNREGISTER_BROKER, version)
    broker_id = request.broker_id
    registration = image.cluster.brokers.get(broker_id)
    if registration is None:
        return ControllerResult(
            (),
            build(
                cls,
                throttle_time=_NO_THROTTLE,
                error_code=ErrorCode.broker_id_not_registered,
                error_message=f"Broker ID {broker_id} is not currently registered",
            ),
        )
    records: list[MetadataRecord] = [
        *broker_unavailable_changes(image, broker_id, ctx.config),
        UnregisterBrokerRecord(broker_id=broker_id, broker_epoch=registration.broker_epoch),
    ]
    heartbeats.remove(broker_id)
    return ControllerResult(
        tuple(records),
        build(cls, throttle_time=_NO_THROTTLE, error_code=ErrorCode.none, error_message=None),
    )
