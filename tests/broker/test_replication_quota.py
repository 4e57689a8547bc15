"""The replication throttle (kraft.broker.replication_quota): which partitions a
topic config throttles on a broker, the bound from dynamic broker configs, and
Kafka's rate over its sample windows, with a fake clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kraft.broker.replication_quota import UNLIMITED, ReplicationQuota
from kraft.metadata.image import ConfigResource
from kraft.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE


class _Configs:
    def __init__(self, data: dict[ConfigResource, dict[str, str]]) -> None:
        self.data = data

    def get(self, resource: ConfigResource) -> Mapping[str, str]:
        return self.data.get(resource, {})


class _Image:
    def __init__(self) -> None:
        self.configs = _Configs({})

    def set(self, kind: int, name: str, **values: str) -> None:
        self.configs.data[ConfigResource(kind, name)] = {
            k.replace("_", "."): v for k, v in values.items()}


class _Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def quota(image: _Image, clock: _Clock, node_id: int = 2) -> ReplicationQuota:
    fake: Any = image
    return ReplicationQuota(node_id, "leader", lambda: fake, clock)


def test_throttled_partitions_are_those_listed_with_this_broker() -> None:
    """`p:b` entries name partitions for broker b only; `*` throttles every
    partition; an unset or empty config none."""
    image, clock = _Image(), _Clock()
    q = quota(image, clock, node_id=2)
    assert not q.is_throttled("t", 0)
    image.set(TOPIC_RESOURCE, "t", leader_replication_throttled_replicas="0:1,1:2,3:2")
    assert [p for p in range(4) if q.is_throttled("t", p)] == [1, 3]
    image.set(TOPIC_RESOURCE, "t", leader_replication_throttled_replicas="*")
    assert all(q.is_throttled("t", p) for p in range(4)) and not q.is_throttled("u", 0)
    image.set(TOPIC_RESOURCE, "t", leader_replication_throttled_replicas="")
    assert not q.is_throttled("t", 0)


def test_the_bound_is_this_brokers_else_the_clusters() -> None:
    """leader.replication.throttled.rate of this broker wins over the cluster default;
    neither set means no quota."""
    image, clock = _Image(), _Clock()
    q = quota(image, clock, node_id=2)
    assert q.bound() == UNLIMITED and not q.is_exceeded()
    image.set(BROKER_RESOURCE, "", leader_replication_throttled_rate="500")
    assert q.bound() == 500
    image.set(BROKER_RESOURCE, "2", leader_replication_throttled_rate="1000")
    image.set(BROKER_RESOURCE, "3", leader_replication_throttled_rate="7")
    assert q.bound() == 1000


def test_rate_spans_the_windows_and_forgets_old_ones() -> None:
    """Bytes are averaged over at least ten windows of one second (Kafka's 11
    samples), so one burst exceeds a bound only by its share of them; windows older
    than eleven seconds are forgotten and the quota is free again."""
    image, clock = _Image(), _Clock()
    image.set(BROKER_RESOURCE, "2", leader_replication_throttled_rate="1000")
    q = quota(image, clock)
    q.record(9_000)
    assert q.rate() == 900 and not q.is_exceeded()
    clock.now += 0.5
    q.record(2_000)  # same window
    assert q.rate() == 1_100 and q.is_exceeded()
    clock.now += 20
    q.record(15_000)  # the cluster moved on: only this window counts, over ten seconds
    assert q.rate() == 1_500
    clock.now += 11.5
    assert q.rate() == 0 and not q.is_exceeded()


def test_only_followers_out_of_sync_of_throttled_partitions_are_held() -> None:
    """should_throttle: throttled partition, follower not in sync, quota exceeded;
    any one missing and the records flow."""
    image, clock = _Image(), _Clock()
    image.set(BROKER_RESOURCE, "2", leader_replication_throttled_rate="10")
    image.set(TOPIC_RESOURCE, "t", leader_replication_throttled_replicas="0:2")
    q = quota(image, clock)
    assert not q.should_throttle("t", 0, in_sync=False)  # nothing sent yet
    q.record(1_000)
    assert q.should_throttle("t", 0, in_sync=False)
    assert not q.should_throttle("t", 0, in_sync=True)
    assert not q.should_throttle("t", 1, in_sync=False)
