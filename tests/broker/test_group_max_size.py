"""group.max.size, as Kafka's classic group coordinator applies it: a JoinGroup that
would make a group larger is GROUP_MAX_SIZE_REACHED (acceptJoiningMember), and a group
loaded with more members than the maximum rebalances (onLoaded), on the pure state
machine (tests/broker/group_harness.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode as E

from kraft.broker.group import api
from kraft.broker.group.coordinator import CoordinatorConfig
from kraft.broker.group.group import ClassicGroup
from kraft.broker.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    encode_group_metadata_value,
    encode_key,
)
from kraft.broker.group.types import GroupConfig, GroupState, Outbox
from kraft.config import ConfigError, KafkaConfig
from kraft.log.records import Record, build_batch
from tests.broker.group_harness import START_MS, Harness
from tests.broker.test_group_coordinator import FakeBroker, running, shard_of


def _harness(max_size: int) -> Harness:
    h = Harness()
    h.group.config = dataclasses.replace(h.group.config, max_size=max_size)
    return h


def test_a_new_member_beyond_the_maximum_is_refused() -> None:
    """A Stable group at group.max.size refuses a new member (GROUP_MAX_SIZE_REACHED,
    no member id) and stays as it was; its own members still rejoin."""
    h = _harness(2)
    a, b = h.stable_group(2)
    refused = h.join_result(h.join(client="c3"))
    assert (refused.error, refused.member_id) == (E.group_max_size_reached, "")
    assert set(h.group.members) == {a, b} and h.group.state == GroupState.STABLE
    assert h.join_result(h.join(b)).error == E.none  # a follower's rejoin: answered at once


def test_joins_while_preparing_a_rebalance_count_the_members_waiting() -> None:
    """While the group prepares its first rebalance, members are taken until
    group.max.size of them wait in JoinGroup; the next is refused."""
    h = _harness(2)
    first, second = h.join(client="c1"), h.join(client="c2")
    third = h.join(client="c3")
    assert h.join_result(third).error == E.group_max_size_reached
    h.advance(0)  # the initial delay (0 here) passes
    assert {h.join_result(first).error, h.join_result(second).error} == {E.none}
    assert len(h.group.members) == 2


def _stored(members: int) -> GroupMetadataValue:
    return GroupMetadataValue("consumer", 4, "range", "m0", START_MS, tuple(
        MemberMetadata(f"m{i}", None, "c", "/h", 30_000, 10_000, b"meta", b"assigned")
        for i in range(members)))


def _loaded(members: int, max_size: int) -> ClassicGroup:
    return ClassicGroup.from_record("g", _stored(members), GroupConfig(max_size=max_size),
                                    START_MS)


def test_a_loaded_group_over_the_maximum_rebalances_and_drops_the_last_to_rejoin() -> None:
    """A group stored with 3 members, loaded where group.max.size is 2, prepares a
    rebalance; two members rejoin, the third is refused and removed, and the rebalance
    completes with the two."""
    h = Harness()
    h.group = _loaded(3, max_size=2)
    out = Outbox()
    assert h.group.rebalance_if_over_capacity(START_MS, out)
    assert h.group.state == GroupState.PREPARING_REBALANCE
    joins = [h.join(m) for m in ("m0", "m1")]
    last = h.join_result(h.join("m2"))
    assert (last.error, last.member_id) == (E.group_max_size_reached, "")
    assert set(h.group.members) == {"m0", "m1"}
    assert [h.join_result(t).error for t in joins] == [E.none, E.none]
    assert h.group.generation == 5 and h.group.state == GroupState.COMPLETING_REBALANCE


def test_a_loaded_group_within_the_maximum_stays_stable() -> None:
    """A loaded group no larger than group.max.size is left Stable."""
    group = _loaded(2, max_size=2)
    assert not group.rebalance_if_over_capacity(START_MS, Outbox())
    assert group.state == GroupState.STABLE


def test_group_max_size_is_read_and_checked() -> None:
    """group.max.size reaches the coordinator (Kafka's default Integer.MAX_VALUE); below
    1 is refused with Kafka's words."""
    assert CoordinatorConfig.from_config(KafkaConfig({})).group_max_size == (1 << 31) - 1
    assert CoordinatorConfig.from_config(KafkaConfig({"group.max.size": "3"})).group_max_size == 3
    with pytest.raises(ConfigError, match=r"Invalid value 0 for configuration group\.max\.size: "
                                          r"Value must be at least 1"):
        KafkaConfig({"group.max.size": "0"})


async def test_the_coordinator_rebalances_a_loaded_group_over_the_maximum(
        tmp_path: Path) -> None:
    """A coordinator whose group.max.size is 1 loads a stored Stable group of 2 members
    into PreparingRebalance; one of 2 members is left Stable."""
    broker = FakeBroker(tmp_path)
    broker.config = KafkaConfig({**broker.config.raw, "group.max.size": "1"})
    for group_id, members in (("big", 2), ("small", 1)):
        record = Record(encode_key(GroupMetadataKey(group_id)),
                        encode_group_metadata_value(_stored(members)), (), START_MS)
        batch = build_batch([record])
        result = broker.partition(shard_of(group_id)).append_as_leader(memoryview(batch))
        assert result.info.error_code == 0
    try:
        async with running(broker) as coordinator:
            assert api.describe_group(coordinator, "big")[1].state == "PreparingRebalance"
            assert api.describe_group(coordinator, "small")[1].state == "Stable"
    finally:
        broker.close()
