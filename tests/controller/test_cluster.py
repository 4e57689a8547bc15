"""Broker lifecycle commands (kraft.controller.cluster): registration, heartbeats,
session-expiry fencing, unregistration, and the leadership invariants they keep."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.controller.cluster import (
    BrokerControlState,
    broker_heartbeat,
    fence_brokers,
    next_broker_state,
    register_broker,
    unregister_broker,
)
from kraft.controller.heartbeats import BrokerHeartbeatManager
from kraft.controller.partition_change import is_acceptable_leader
from kraft.controller.result import ControllerResult, apply_records
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import (
    METADATA_VERSION,
    NO_LEADER,
    TOPIC_RESOURCE,
    BrokerEndpoint,
    BrokerFeature,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    FeatureLevelRecord,
    PartitionChangeRecord,
    RegisterBrokerRecord,
    UnregisterBrokerRecord,
)
from kraft.net.codec import encode_response, request_type
from kraft.net.messages import build, nested
from tests.controller.test_partition_change import (
    CLUSTER_ID,
    METADATA_VERSION_LEVEL,
    broker,
    cluster_image,
    context,
    incarnation,
    partition_of,
    replay,
    topic,
)

TIMEOUT = 9000
MV_RANGE = ((METADATA_VERSION, 1, METADATA_VERSION_LEVEL),)


def registration_request(
    version: int,
    broker_id: int,
    *,
    incarnation_id: uuid.UUID | None = None,
    cluster_id: str = CLUSTER_ID,
    features: Sequence[tuple[str, int, int]] = MV_RANGE,
    rack: str | None = "rack-a",
    **extra: Any,
) -> Any:
    cls = request_type(62, version)
    listener, feature = nested(cls, "Listener"), nested(cls, "Feature")
    return build(
        cls,
        broker_id=broker_id,
        cluster_id=cluster_id,
        incarnation_id=incarnation_id or incarnation(broker_id),
        listeners=(
            listener(name="PLAINTEXT", host="h", port=9092 + broker_id, security_protocol=0),
        ),
        features=tuple(
            feature(name=n, min_supported_version=lo, max_supported_version=hi)
            for n, lo, hi in features
        ),
        rack=rack,
        **extra,
    )


def heartbeat_request(
    broker_id: int,
    broker_epoch: int,
    offset: int,
    *,
    want_fence: bool = False,
    want_shut_down: bool = False,
    version: int = 2,
) -> Any:
    return build(
        request_type(63, version),
        broker_id=broker_id,
        broker_epoch=broker_epoch,
        current_metadata_offset=offset,
        want_fence=want_fence,
        want_shut_down=want_shut_down,
    )


def managed(image: MetadataImage, now_ms: int = 0) -> BrokerHeartbeatManager:
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.reset(image, now_ms)
    return hb


def commit(image: MetadataImage, result: ControllerResult[Any]) -> MetadataImage:
    """The image after the result's records, checking they also apply in place."""
    apply_records(image, result.records)
    return replay(image, result.records)


def epoch_of(image: MetadataImage, broker_id: int) -> int:
    return image.cluster.brokers[broker_id].broker_epoch


# --- registration ----------------------------------------------------------------------


@pytest.mark.parametrize("version", range(5))
def test_first_registration_writes_fenced_record_at_next_offset(version: int) -> None:
    """A new broker gets broker epoch = next offset and a fenced registration with its
    listeners, features and rack; the response encodes at every version."""
    image = cluster_image()
    ctx, hb = context(image, now_ms=77), managed(image)
    result = register_broker(image, registration_request(version, 1), version, ctx, hb)
    assert result.response.error_code == ErrorCode.none
    assert result.response.broker_epoch == ctx.next_offset
    assert result.records == (
        RegisterBrokerRecord(
            broker_id=1,
            incarnation_id=incarnation(1),
            broker_epoch=ctx.next_offset,
            endpoints=(BrokerEndpoint(name="PLAINTEXT", host="h", port=9093, security_protocol=0),),
            features=(BrokerFeature(name=METADATA_VERSION, min_supported_version=1,
                                    max_supported_version=METADATA_VERSION_LEVEL),),
            rack="rack-a",
            fenced=True,
        ),
    )
    state = hb.state(1)
    assert state is not None and state.last_contact_ms == 77
    assert hb.registration_offset(1) == ctx.next_offset
    registered = commit(image, result).cluster.brokers[1]
    assert registered.fenced and registered.broker_epoch == ctx.next_offset
    encode_response(1, result.response)


def test_inconsistent_cluster_id() -> None:
    """A broker of another cluster is refused with INCONSISTENT_CLUSTER_ID and no records."""
    image = cluster_image()
    request = registration_request(4, 1, cluster_id="other")
    result = register_broker(image, request, 4, context(image), managed(image))
    assert result.records == ()
    assert result.response.error_code == ErrorCode.inconsistent_cluster_id
    assert result.response.broker_epoch == -1


def test_duplicate_registration_while_session_valid() -> None:
    """Another incarnation of a broker whose session is valid is a duplicate."""
    image = cluster_image(broker(1))
    hb = managed(image, now_ms=0)
    request = registration_request(4, 1, incarnation_id=uuid.uuid4())
    result = register_broker(image, request, 4, context(image, now_ms=TIMEOUT), hb)
    assert result.records == ()
    assert result.response.error_code == ErrorCode.duplicate_broker_registration


def test_new_incarnation_after_session_expiry_moves_old_leaderships() -> None:
    """A new incarnation replacing an expired, unfenced registration moves its
    leaderships and ISR memberships away first, then registers fenced."""
    tid, records = topic("t", [([1, 2], [1, 2], 1), ([2, 1], [2, 1], 2)])
    image = cluster_image(broker(1), broker(2), records)
    hb = managed(image, now_ms=0)
    new = uuid.uuid4()
    ctx = context(image, now_ms=TIMEOUT + 1)
    result = register_broker(image, registration_request(4, 1, incarnation_id=new), 4, ctx, hb)
    assert result.response.error_code == ErrorCode.none
    assert result.response.broker_epoch == ctx.next_offset
    assert result.records[:2] == (
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2,), leader=2),
        PartitionChangeRecord(partition_id=1, topic_id=tid, isr=(2,)),
    )
    register = result.records[2]
    assert isinstance(register, RegisterBrokerRecord)
    assert (register.incarnation_id, register.broker_epoch, register.fenced) == (
        new, ctx.next_offset, True
    )
    assert hb.registration_offset(1) == ctx.next_offset + 2
    after = commit(image, result)
    assert partition_of(after, tid, 0).leader == 2


def test_new_incarnation_of_fenced_broker_needs_no_moves() -> None:
    """Replacing a fenced registration writes only the new registration."""
    _, records = topic("t", [([1, 2], [1], NO_LEADER)])
    image = cluster_image(broker(1, fenced=True, in_controlled_shutdown=True), broker(2), records)
    request = registration_request(4, 1, incarnation_id=uuid.uuid4())
    result = register_broker(image, request, 4, context(image), managed(image))
    assert [type(r) for r in result.records] == [RegisterBrokerRecord]
    assert not commit(image, result).cluster.brokers[1].in_controlled_shutdown


def test_retried_registration_keeps_epoch_and_state() -> None:
    """The same incarnation re-registering is a retry: the record is rewritten with the
    old epoch, fencing and controlled-shutdown state, and the old epoch is answered."""
    image = cluster_image(broker(1, in_controlled_shutdown=True))
    ctx = context(image)
    result = register_broker(image, registration_request(3, 1, rack=None), 3, ctx, managed(image))
    assert result.response.error_code == ErrorCode.none
    assert result.response.broker_epoch == 1
    (record,) = result.records
    assert isinstance(record, RegisterBrokerRecord)
    assert (record.broker_epoch, record.fenced, record.in_controlled_shutdown, record.rack) == (
        1, False, True, None
    )
    assert commit(image, result).cluster.brokers[1].broker_epoch == 1


@pytest.mark.parametrize(
    ("features", "finalized_extra"),
    [
        (((METADATA_VERSION, 1, METADATA_VERSION_LEVEL - 1),), ()),
        (((METADATA_VERSION, METADATA_VERSION_LEVEL + 1, 30),), ()),
        ((), ()),
        ((*MV_RANGE, ("group.version", 1, 1)), ()),
        (MV_RANGE, (("kraft.version", 1),)),
    ],
)
def test_unsupported_feature_levels(
    features: tuple[tuple[str, int, int], ...], finalized_extra: tuple[tuple[str, int], ...]
) -> None:
    """A broker that cannot run at every finalized level (a missing metadata.version
    range means level 1 only; a missing feature means level 0 only) is refused."""
    image = cluster_image(
        [FeatureLevelRecord(name=n, feature_level=lvl) for n, lvl in finalized_extra]
    )
    request = registration_request(4, 1, features=features)
    result = register_broker(image, request, 4, context(image), managed(image))
    assert result.records == ()
    assert result.response.error_code == ErrorCode.unsupported_version


def test_missing_metadata_version_range_recorded_as_level_one() -> None:
    """With metadata.version at level 1, a broker sending no range registers as [1, 1]."""
    image = replay(cluster_image(), [FeatureLevelRecord(name=METADATA_VERSION, feature_level=1)])
    request = registration_request(2, 1, features=(("group.version", 0, 1),))
    result = register_broker(image, request, 2, context(image), managed(image))
    (record,) = result.records
    assert isinstance(record, RegisterBrokerRecord)
    assert record.features == (
        BrokerFeature(name="group.version", min_supported_version=0, max_supported_version=1),
        BrokerFeature(name=METADATA_VERSION, min_supported_version=1, max_supported_version=1),
    )


def test_zk_migrating_broker_refused() -> None:
    """A ZK broker in migration cannot register (KRaft-only controller)."""
    image = cluster_image()
    request = registration_request(4, 1, is_migrating_zk_broker=True)
    result = register_broker(image, request, 4, context(image), managed(image))
    assert result.records == ()
    assert result.response.error_code == ErrorCode.broker_id_not_registered


# --- heartbeats ------------------------------------------------------------------------


@pytest.mark.parametrize("version", range(3))
def test_heartbeat_errors_write_nothing(version: int) -> None:
    """Unknown brokers get BROKER_ID_NOT_REGISTERED, stale epochs STALE_BROKER_EPOCH;
    neither writes records nor counts as contact; responses encode."""
    image = cluster_image(broker(1))
    hb = BrokerHeartbeatManager(TIMEOUT)
    unknown = broker_heartbeat(image, heartbeat_request(2, 5, 0, version=version), version,
                               context(image), hb)
    stale = broker_heartbeat(image, heartbeat_request(1, 5, 0, version=version), version,
                             context(image), hb)
    assert unknown.response.error_code == ErrorCode.broker_id_not_registered
    assert stale.response.error_code == ErrorCode.stale_broker_epoch
    assert unknown.records == stale.records == ()
    assert hb.state(1) is None and hb.state(2) is None
    encode_response(1, unknown.response)
    encode_response(1, stale.response)


def test_fenced_broker_not_caught_up_stays_fenced() -> None:
    """A fenced broker behind its registration record stays fenced."""
    image = cluster_image(broker(1, fenced=True))
    hb = managed(image)
    result = broker_heartbeat(image, heartbeat_request(1, 1, 0), 2, context(image, 5), hb)
    assert result.records == ()
    r = result.response
    assert (r.is_caught_up, r.is_fenced, r.should_shut_down) == (False, True, False)
    state = hb.state(1)
    assert state is not None and (state.last_contact_ms, state.metadata_offset) == (5, 0)


def test_fenced_broker_wanting_fence_stays_fenced() -> None:
    """A caught-up broker that still wants to be fenced stays fenced."""
    image = cluster_image(broker(1, fenced=True))
    result = broker_heartbeat(
        image, heartbeat_request(1, 1, 1, want_fence=True), 2, context(image), managed(image)
    )
    assert result.records == ()
    assert (result.response.is_caught_up, result.response.is_fenced) == (True, True)


@pytest.mark.parametrize("version", range(3))
def test_caught_up_broker_is_unfenced_and_leads_leaderless_partitions(version: int) -> None:
    """A caught-up fenced broker is unfenced, and leaderless partitions whose ISR holds
    it get it as leader in the same batch."""
    tid, records = topic("t", [([1, 2], [1], NO_LEADER), ([2, 1], [2, 1], 2)])
    image = cluster_image(broker(2), records, broker(1, fenced=True))
    epoch = epoch_of(image, 1)
    request = heartbeat_request(1, epoch, epoch, version=version)
    result = broker_heartbeat(image, request, version, context(image), managed(image))
    assert result.records == (
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=epoch, fenced=False),
        PartitionChangeRecord(partition_id=0, topic_id=tid, leader=1),
    )
    r = result.response
    assert (r.error_code, r.is_caught_up, r.is_fenced, r.should_shut_down) == (
        ErrorCode.none, True, False, False
    )
    after = commit(image, result)
    assert partition_of(after, tid, 0).leader == 1
    encode_response(1, result.response)


def test_unfencing_clears_stale_controlled_shutdown_flag() -> None:
    """A fenced broker left over from a controlled shutdown becomes fully usable when
    it is unfenced."""
    image = cluster_image(broker(1, fenced=True, in_controlled_shutdown=True))
    result = broker_heartbeat(image, heartbeat_request(1, 1, 1), 2, context(image), managed(image))
    assert result.records == (
        BrokerRegistrationChangeRecord(
            broker_id=1, broker_epoch=1, fenced=False, in_controlled_shutdown=False
        ),
    )
    assert is_acceptable_leader(commit(image, result), 1)


def test_retried_registration_offset_gates_unfencing() -> None:
    """After a retried registration, unfencing waits for the rewritten record's offset,
    not just the broker epoch."""
    image = cluster_image(broker(1, fenced=True), broker(2))
    hb = managed(image)
    ctx = context(image)
    retry = register_broker(image, registration_request(4, 1), 4, ctx, hb)
    image = commit(image, retry)
    behind = broker_heartbeat(image, heartbeat_request(1, 1, ctx.next_offset - 1), 2,
                              context(image), hb)
    assert behind.records == () and not behind.response.is_caught_up
    caught_up = broker_heartbeat(image, heartbeat_request(1, 1, ctx.next_offset), 2,
                                 context(image), hb)
    assert caught_up.response.is_caught_up and not caught_up.response.is_fenced


def test_fenced_broker_wanting_shutdown_shuts_down_now() -> None:
    """A fenced broker asking to shut down may do so at once (Kafka writes a fencing
    record again)."""
    image = cluster_image(broker(1, fenced=True))
    result = broker_heartbeat(
        image, heartbeat_request(1, 1, 0, want_shut_down=True), 2, context(image), managed(image)
    )
    assert result.records == (
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1, fenced=True),
    )
    assert (result.response.is_fenced, result.response.should_shut_down) == (True, True)
    commit(image, result)


def test_unfenced_broker_wanting_fence_is_fenced_and_loses_leadership() -> None:
    """want_fence fences an unfenced broker: ISR/leadership moves, then the fencing."""
    tid, records = topic("t", [([1, 2], [1, 2], 1)])
    image = cluster_image(broker(1), broker(2), records)
    result = broker_heartbeat(
        image, heartbeat_request(1, 1, 9, want_fence=True), 2, context(image), managed(image)
    )
    assert result.records == (
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2,), leader=2),
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1, fenced=True),
    )
    assert (result.response.is_fenced, result.response.should_shut_down) == (True, False)


def test_unfenced_leaderless_broker_wanting_shutdown_shuts_down_now() -> None:
    """A broker leading nothing may shut down at once; it is fenced."""
    tid, records = topic("t", [([2, 1], [2, 1], 2)])
    image = cluster_image(broker(1), broker(2), records)
    result = broker_heartbeat(
        image, heartbeat_request(1, 1, 9, want_shut_down=True), 2, context(image), managed(image)
    )
    assert result.records == (
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2,)),
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1, fenced=True),
    )
    assert (result.response.is_fenced, result.response.should_shut_down) == (True, True)


def test_controlled_shutdown_waits_for_active_brokers_then_completes() -> None:
    """A leader asking to shut down enters controlled shutdown (leaderships move); it
    may stop only once every active broker has reached the batch that moved them."""
    tid, records = topic("t", [([1, 2], [1, 2], 1), ([1, 3], [1], 1)])
    image = cluster_image(broker(1), broker(2), broker(3), records)
    hb = managed(image)
    ctx = context(image, now_ms=10)
    enter = broker_heartbeat(image, heartbeat_request(1, 1, 0, want_shut_down=True), 2, ctx, hb)
    assert enter.records == (
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1, in_controlled_shutdown=True),
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2,), leader=2),
        PartitionChangeRecord(partition_id=1, topic_id=tid, leader=NO_LEADER),
    )
    r = enter.response
    assert (r.is_fenced, r.should_shut_down) == (False, False)
    shutdown_offset = ctx.next_offset + 2
    assert hb.controlled_shutdown_offset(1) == shutdown_offset
    image = commit(image, enter)
    assert not is_acceptable_leader(image, 1)

    hb.touch(2, 20, shutdown_offset)
    hb.touch(3, 20, shutdown_offset - 1)
    waiting = broker_heartbeat(image, heartbeat_request(1, 1, 0, want_shut_down=True), 2,
                               context(image, 30), hb)
    assert waiting.records == ()
    assert (waiting.response.is_fenced, waiting.response.should_shut_down) == (False, False)
    assert hb.controlled_shutdown_offset(1) == shutdown_offset

    hb.touch(3, 40, shutdown_offset)
    done = broker_heartbeat(image, heartbeat_request(1, 1, 0, want_shut_down=True), 2,
                            context(image, 50), hb)
    assert done.records == (
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1, fenced=True),
    )
    assert (done.response.is_fenced, done.response.should_shut_down) == (True, True)
    assert hb.controlled_shutdown_offset(1) is None
    commit(image, done)


def test_controlled_shutdown_inherited_from_previous_controller_waits_for_log_end() -> None:
    """A controlled shutdown begun under another controller waits for everything
    written so far to reach the active brokers."""
    image = cluster_image(broker(2), broker(1, in_controlled_shutdown=True))
    hb = managed(image)
    ctx = context(image)
    hb.touch(2, 0, ctx.next_offset - 2)
    first = broker_heartbeat(image, heartbeat_request(1, 2, 0), 2, ctx, hb)
    assert first.records == () and not first.response.should_shut_down
    assert hb.controlled_shutdown_offset(1) == ctx.next_offset - 1
    hb.touch(2, 0, ctx.next_offset - 1)
    second = broker_heartbeat(image, heartbeat_request(1, 2, 0), 2, ctx, hb)
    assert second.response.should_shut_down


@given(
    current=st.sampled_from(BrokerControlState),
    want_fence=st.booleans(),
    want_shut_down=st.booleans(),
    caught_up=st.booleans(),
    leads=st.booleans(),
    done=st.booleans(),
)
def test_state_machine_table(
    current: BrokerControlState,
    want_fence: bool,
    want_shut_down: bool,
    caught_up: bool,
    leads: bool,
    done: bool,
) -> None:
    """next_broker_state follows Kafka's calculateNextBrokerState table."""
    s = BrokerControlState
    nxt = next_broker_state(
        current, want_fence=want_fence, want_shut_down=want_shut_down, caught_up=caught_up,
        leads_partitions=leads, controlled_shutdown_done=done,
    )
    if current is s.FENCED:
        expected = (
            s.SHUTDOWN_NOW if want_shut_down
            else s.UNFENCED if not want_fence and caught_up else s.FENCED
        )
    elif current is s.UNFENCED:
        if want_fence:
            expected = s.SHUTDOWN_NOW if want_shut_down else s.FENCED
        elif want_shut_down:
            expected = s.CONTROLLED_SHUTDOWN if leads else s.SHUTDOWN_NOW
        else:
            expected = s.UNFENCED
    elif current is s.CONTROLLED_SHUTDOWN:
        expected = s.SHUTDOWN_NOW if not leads and done else s.CONTROLLED_SHUTDOWN
    else:
        expected = s.SHUTDOWN_NOW
    assert nxt is expected


# --- session expiry and unregistration -------------------------------------------------


def test_fence_brokers_each_sees_the_earlier_ones_fenced() -> None:
    """Fencing several brokers at once removes them one after the other; the last ISR
    member stays and the partition goes leaderless."""
    tid, records = topic("t", [([1, 2, 3], [1, 2, 3], 1)])
    image = cluster_image(broker(1), broker(2), broker(3), records)
    result = fence_brokers(image, [1, 2, 3, 4], context(image))
    assert result.records == (
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2, 3), leader=2),
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1, fenced=True),
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(3,), leader=3),
        BrokerRegistrationChangeRecord(broker_id=2, broker_epoch=2, fenced=True),
        PartitionChangeRecord(partition_id=0, topic_id=tid, leader=NO_LEADER),
        BrokerRegistrationChangeRecord(broker_id=3, broker_epoch=3, fenced=True),
    )
    after = partition_of(commit(image, result), tid)
    assert (after.leader, after.isr, after.leader_epoch) == (NO_LEADER, (3,), 3)


def test_fence_brokers_skips_already_fenced() -> None:
    """Brokers fenced since they were chosen are left alone."""
    image = cluster_image(broker(1, fenced=True))
    assert fence_brokers(image, [1], context(image)).records == ()


def test_unregister_unknown_broker() -> None:
    """Unregistering an unknown broker is BROKER_ID_NOT_REGISTERED with a message."""
    image = cluster_image()
    request = build(request_type(64, 0), broker_id=3)
    result = unregister_broker(image, request, 0, context(image), managed(image))
    assert result.records == ()
    assert result.response.error_code == ErrorCode.broker_id_not_registered
    assert result.response.error_message
    encode_response(1, result.response)


def test_unregister_moves_leadership_then_removes_registration() -> None:
    """Unregistering moves the broker's ISR memberships and leaderships, then removes it."""
    tid, records = topic("t", [([1, 2], [1, 2], 1)])
    image = cluster_image(broker(1), broker(2), records)
    hb = managed(image)
    request = build(request_type(64, 0), broker_id=1)
    result = unregister_broker(image, request, 0, context(image), hb)
    assert result.records == (
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2,), leader=2),
        UnregisterBrokerRecord(broker_id=1, broker_epoch=1),
    )
    assert result.response.error_code == ErrorCode.none
    assert hb.state(1) is None
    assert 1 not in commit(image, result).cluster.brokers
    encode_response(1, result.response)


# --- invariants under random lifecycles ------------------------------------------------

BROKERS = range(5)


@st.composite
def clusters(draw: st.DrawFn) -> tuple[MetadataImage, frozenset[str]]:
    """All brokers unfenced; a few topics with random replica sets led by their first
    replica, some with unclean election enabled."""
    groups = [broker(b) for b in BROKERS]
    unclean = set()
    for t in range(draw(st.integers(1, 3))):
        name = f"t{t}"
        assignments = []
        for _ in range(draw(st.integers(1, 3))):
            replicas = draw(st.lists(st.sampled_from(BROKERS), min_size=1, max_size=3,
                                     unique=True))
            assignments.append((replicas, replicas, replicas[0]))
        groups.extend(topic(name, assignments)[1])
        if draw(st.booleans()):
            unclean.add(name)
            groups.append(ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name=name,
                                       name="unclean.leader.election.enable", value="true"))
    return cluster_image(*groups), frozenset(unclean)


events = st.lists(
    st.tuples(st.sampled_from(["fence", "expire", "unfence", "shutdown", "heartbeat"]),
              st.sampled_from(BROKERS)),
    max_size=25,
)


def _check_step(before: MetadataImage, after: MetadataImage, records: Sequence[Any],
                unclean: frozenset[str]) -> None:
    leader_sets: dict[tuple[uuid.UUID, int], int] = {}
    for record in records:
        if isinstance(record, PartitionChangeRecord) and record.leader is not None:
            key = (record.topic_id, record.partition_id)
            leader_sets[key] = leader_sets.get(key, 0) + 1
    for topic_id, t in after.topics.by_id.items():
        for pid, p in t.partitions.items():
            old = before.topics.by_id[topic_id].partitions[pid]
            assert p.isr, "ISR never empty"
            assert len(set(p.isr)) == len(p.isr) and set(p.isr) <= set(p.replicas)
            assert p.leader == NO_LEADER or (
                p.leader in p.isr and is_acceptable_leader(after, p.leader)
            )
            if p.leader == NO_LEADER:
                candidates = p.replicas if t.name in unclean else p.isr
                assert not any(is_acceptable_leader(after, b) for b in candidates), (
                    "leaderless only when nobody could lead"
                )
            if len(p.isr) > 1:
                assert all(is_acceptable_leader(after, b) for b in p.isr)
            assert p.leader_epoch == old.leader_epoch + leader_sets.get((topic_id, pid), 0)
            if len(old.isr) == 1 and t.name not in unclean:
                assert old.isr[0] in p.isr, "the last ISR member is never removed"


@given(cluster=clusters(), script=events)
def test_lifecycle_events_keep_partition_invariants(
    cluster: tuple[MetadataImage, frozenset[str]], script: list[tuple[str, int]]
) -> None:
    """Under any sequence of fencing, session expiry, unfencing and controlled shutdown:
    leaders are NO_LEADER or acceptable ISR members, ISRs are non-empty subsets of the
    replicas, leader epochs bump exactly when the leader field is set, and the last ISR
    member is never removed (without unclean election)."""
    image, unclean = cluster
    hb = managed(image)
    for now, (kind, b) in enumerate(script, start=1):
        ctx = context(image, now_ms=now)
        registration = image.cluster.brokers[b]
        epoch = registration.broker_epoch
        if kind == "expire":
            result: ControllerResult[Any] = fence_brokers(image, [b], ctx)
        else:
            # "heartbeat" reports an offset behind the registration: no unfencing.
            offset = 0 if kind == "heartbeat" else image.provenance.offset
            request = heartbeat_request(
                b, epoch, offset,
                want_fence=kind == "fence", want_shut_down=kind == "shutdown",
            )
            result = broker_heartbeat(image, request, 2, ctx, hb)
            assert result.response.error_code == ErrorCode.none
        after = commit(image, result)
        _check_step(image, after, result.records, unclean)
        if kind != "expire":
            r = result.response
            assert r.is_fenced == after.cluster.brokers[b].fenced
            if r.should_shut_down:
                assert r.is_fenced
        image = after
