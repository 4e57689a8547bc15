"""ElectLeaders and automatic leader balancing (kraft.controller.elect_leaders): the
PREFERRED and UNCLEAN elections, Kafka's per-partition errors, and balancing only
partitions whose preferred replica could lead."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from kraft.controller.apis.elect_leaders import API as ELECT_LEADERS
from kraft.controller.elect_leaders import (
    MAX_ELECTIONS_PER_IMBALANCE,
    PREFERRED,
    UNCLEAN,
    balance_leaders,
    elect_leaders,
    imbalanced_partitions,
)
from kraft.controller.partition_change import RECOVERING
from kraft.controller.result import apply_records
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import NO_LEADER, PartitionChangeRecord
from kraft.net.codec import encode_response, request_type
from kraft.net.messages import build, nested
from tests.controller.test_partition_change import (
    broker,
    cluster_image,
    context,
    partition_of,
    topic,
)

VERSIONS = (0, 1, 2)


def request(version: int, topics: dict[str, list[int]] | None,
            election_type: int = PREFERRED) -> Any:
    cls = request_type(43, version)
    entry = nested(cls, "TopicPartitions")
    return build(cls, election_type=election_type, topic_partitions=None if topics is None
                 else tuple(entry(topic=t, partitions=tuple(ps)) for t, ps in topics.items()))


def results(response: Any) -> dict[tuple[str, int], ErrorCode]:
    return {(t.topic, p.partition_id): p.error_code
            for t in response.replica_election_results for p in t.partition_result}


def moved_cluster() -> tuple[uuid.UUID, MetadataImage]:
    """Brokers 1-3; topic t: p0 on [1, 2, 3] led by 2 (ISR all), p1 on [2, 3, 1] led by 2,
    p2 on [3, 1, 2] led by 1 with 3 out of the ISR."""
    tid, records = topic("t", [([1, 2, 3], [1, 2, 3], 2), ([2, 3, 1], [2, 3, 1], 2),
                               ([3, 1, 2], [1, 2], 1)])
    return tid, cluster_image(broker(1), broker(2), broker(3), records)


@pytest.mark.parametrize("version", VERSIONS)
def test_preferred_election_moves_leadership_back(version: int) -> None:
    """The preferred replica, in the ISR and unfenced, becomes leader with a new
    leader epoch; the response encodes."""
    tid, image = moved_cluster()
    result = elect_leaders(image, request(version, {"t": [0]}), version, context(image))
    assert results(result.response) == {("t", 0): ErrorCode.none}
    assert result.records == (PartitionChangeRecord(partition_id=0, topic_id=tid, leader=1),)
    after = partition_of(apply_records(image, result.records), tid, 0)
    assert (after.leader, after.leader_epoch) == (1, 1)
    encode_response(version, result.response)


def test_preferred_errors() -> None:
    """ELECTION_NOT_NEEDED when the preferred replica leads; PREFERRED_LEADER_NOT_AVAILABLE
    when it is out of the ISR; UNKNOWN_TOPIC_OR_PARTITION for unknown names; nothing
    written for any of them."""
    _, image = moved_cluster()
    req = request(2, {"t": [1, 2, 7], "nope": [0]})
    result = elect_leaders(image, req, 2, context(image))
    assert results(result.response) == {
        ("t", 1): ErrorCode.election_not_needed,
        ("t", 2): ErrorCode.preferred_leader_not_available,
        ("t", 7): ErrorCode.unknown_topic_or_partition,
        ("nope", 0): ErrorCode.unknown_topic_or_partition,
    }
    assert result.records == ()


@pytest.mark.parametrize("preferred", [broker(1, fenced=True),
                                       broker(1, in_controlled_shutdown=True)])
def test_preferred_replica_must_be_acceptable(preferred: Any) -> None:
    """A fenced or shutting-down preferred replica does not take leadership back."""
    _, records = topic("t", [([1, 2, 3], [1, 2, 3], 2)])
    image = cluster_image(preferred, broker(2), broker(3), records)
    result = elect_leaders(image, request(2, {"t": [0]}), 2, context(image))
    assert results(result.response) == {("t", 0): ErrorCode.preferred_leader_not_available}
    assert result.records == ()


def test_all_partitions_leave_out_election_not_needed() -> None:
    """A null topic list elects everywhere and reports only partitions it did something
    about or could not."""
    _, image = moved_cluster()
    result = elect_leaders(image, request(2, None), 2, context(image))
    assert results(result.response) == {("t", 0): ErrorCode.none,
                                        ("t", 2): ErrorCode.preferred_leader_not_available}
    assert [r.partition_id for r in result.records] == [0]


def test_partition_named_twice_is_elected_once() -> None:
    _, image = moved_cluster()
    result = elect_leaders(image, request(2, {"t": [0, 0]}), 2, context(image))
    assert len(result.records) == 1
    assert [len(t.partition_result) for t in result.response.replica_election_results] == [1]


def test_unclean_election_takes_a_replica_outside_the_isr() -> None:
    """UNCLEAN elects a leaderless partition's first acceptable replica even outside the
    ISR (whatever the topic config says), which alone forms the ISR, RECOVERING; a
    partition with a leader needs no election; without any acceptable replica,
    ELIGIBLE_LEADERS_NOT_AVAILABLE."""
    tid, records = topic("t", [([3, 2], [3], NO_LEADER), ([1, 2], [1, 2], 1),
                               ([3], [3], NO_LEADER)])
    image = cluster_image(broker(1), broker(2), broker(3, fenced=True), records)
    result = elect_leaders(image, request(1, {"t": [0, 1, 2]}, UNCLEAN), 1, context(image))
    assert results(result.response) == {
        ("t", 0): ErrorCode.none,
        ("t", 1): ErrorCode.election_not_needed,
        ("t", 2): ErrorCode.eligible_leaders_not_available,
    }
    after = partition_of(apply_records(image, result.records), tid, 0)
    assert (after.leader, after.isr, after.leader_recovery_state) == (2, (2,), RECOVERING)


@pytest.mark.parametrize("version", (1, 2))
def test_unknown_election_type_is_invalid_request(version: int) -> None:
    _, image = moved_cluster()
    result = elect_leaders(image, request(version, {"t": [0]}, 7), version, context(image))
    assert result.response.error_code == ErrorCode.invalid_request
    assert results(result.response) == {("t", 0): ErrorCode.invalid_request}
    assert result.records == ()


@pytest.mark.parametrize("version", VERSIONS)
def test_not_controller_answers_every_partition(version: int) -> None:
    """The forwarding error response names every requested partition (v0 has no
    top-level error)."""
    req = request(version, {"t": [0, 1]})
    response = ELECT_LEADERS.error_response(version, req, ErrorCode.not_controller, None)
    assert results(response) == {("t", 0): ErrorCode.not_controller,
                                 ("t", 1): ErrorCode.not_controller}
    encode_response(version, response)


def test_balance_elects_only_where_the_preferred_replica_can_lead() -> None:
    """Balancing moves p0 back to broker 1; p1 is balanced and p2's preferred replica
    is out of the ISR, so neither changes; a balanced image is left alone."""
    tid, image = moved_cluster()
    assert [pid for _, pid, _ in imbalanced_partitions(image)] == [0]
    result = balance_leaders(image, context(image))
    assert result.records == (PartitionChangeRecord(partition_id=0, topic_id=tid, leader=1),)
    balanced = apply_records(image, result.records)
    assert list(imbalanced_partitions(balanced)) == []
    assert balance_leaders(balanced, context(balanced)).records == ()


def test_balance_is_bounded_per_run() -> None:
    count = MAX_ELECTIONS_PER_IMBALANCE + 5
    _, records = topic("big", [([1, 2], [1, 2], 2)] * count)
    image = cluster_image(broker(1), broker(2), records)
    first = balance_leaders(image, context(image))
    assert len(first.records) == MAX_ELECTIONS_PER_IMBALANCE
    after = apply_records(image, first.records)
    assert len(balance_leaders(after, context(after)).records) == 5
