"""Replication throttles, as Kafka's ReplicationQuotaManager: how a reassignment
is kept from starving producers and consumers of disk and network.

Two quotas per broker, each a rate in bytes per second set as a dynamic broker
config (this broker's, else the cluster default; Long.MAX_VALUE, the default,
means none):

- leader side, `leader.replication.throttled.rate`: bytes this broker sends to
  followers of the partitions its topic config `leader.replication.throttled.replicas`
  lists with this broker's id (`partition:broker`, or `*` for every partition);
- follower side, `follower.replication.throttled.rate`: bytes this broker fetches
  for the partitions `follower.replication.throttled.replicas` lists with its id.

While a quota's measured rate is above its bound, a throttled partition whose
follower is not in sync gets no records (leader side: the fetch answers it
empty; follower side: it is left out of the next fetch). Replicas in sync are
never held back: the throttle slows a reassignment's copy, not the ISR that
acks=all writes wait for. Every byte of a throttled partition is counted
(Kafka's sizeOfThrottledPartitions), in sync or not.

The rate is Kafka's: bytes in the last `replication.quota.window.num` (11)
windows of `replication.quota.window.size.seconds` (1 s), divided by the time
they span, at least the length of all windows but the current one. The
configs are read from the broker's metadata image, so a change made with
kafka-configs or kafka-reassign-partitions --throttle applies once replayed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final, Literal

from kraft.metadata.image import ConfigResource, MetadataImage
from kraft.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE

UNLIMITED: Final = (1 << 63) - 1  # Long.MAX_VALUE: no quota
WINDOW_S: Final = 1.0  # replication.quota.window.size.seconds
WINDOWS: Final = 11  # replication.quota.window.num

Side = Literal["leader", "follower"]


class ReplicationQuota:
    """One side's throttle on one broker (module docstring)."""

    def __init__(self, node_id: int, side: Side, image: Callable[[], MetadataImage],
                 clock: Callable[[], float], *, window_s: float = WINDOW_S,
                 windows: int = WINDOWS) -> None:
        self.node_id = node_id
        self.side = side
        self._image = image
        self._clock = clock
        self.window_s = window_s
        self._windows = windows
        self._rate_key = f"{side}.replication.throttled.rate"
        self._replicas_key = f"{side}.replication.throttled.replicas"
        self._samples: deque[list[float]] = deque()  # [window start, bytes]
        self._parsed: dict[str, tuple[str, frozenset[int] | None]] = {}

    def bound(self) -> int:
        """Bytes per second allowed: this broker's dynamic config, else the cluster's."""
        image = self._image()
        for entity in (str(self.node_id), ""):
            value = image.configs.get(ConfigResource(BROKER_RESOURCE, entity)).get(
                self._rate_key)
            if value is not None:
                return int(value)
        return UNLIMITED

    def is_throttled(self, topic: str, partition: int) -> bool:
        """The topic config lists this partition with this broker (or `*`)."""
        value = self._image().configs.get(ConfigResource(TOPIC_RESOURCE, topic)).get(
            self._replicas_key)
        if not value:
            return False
        cached = self._parsed.get(topic)
        if cached is None or cached[0] != value:
            cached = (value, _partitions_of(value, self.node_id))
            self._parsed[topic] = cached
        partitions = cached[1]
        return partitions is None or partition in partitions

    def should_throttle(self, topic: str, partition: int, in_sync: bool) -> bool:
        """Kafka's shouldLeaderThrottle / shouldFollowerThrottle: no records now."""
        return (not in_sync and self.is_throttled(topic, partition)
                and self.is_exceeded())

    def record(self, size: int) -> None:
        """Count `size` bytes of a throttled partition in the current window."""
        if size <= 0:
            return
        now = self._clock()
        self._expire(now)
        if self._samples and now < self._samples[-1][0] + self.window_s:
            self._samples[-1][1] += size
        else:
            self._samples.append([now, float(size)])

    def rate(self) -> float:
        """Bytes per second over the retained windows (module docstring)."""
        now = self._clock()
        self._expire(now)
        if not self._samples:
            return 0.0
        spanned = now - self._samples[0][0]
        return sum(s[1] for s in self._samples) / max(
            spanned, (self._windows - 1) * self.window_s)

    def is_exceeded(self) -> bool:
        bound = self.bound()
        return bound < UNLIMITED and self.rate() > bound

    def _expire(self, now: float) -> None:
        # Kafka's purgeObsoleteSamples: a window started `windows` windows ago is gone.
        while self._samples and now - self._samples[0][0] >= self._windows * self.window_s:
            self._samples.popleft()


def _partitions_of(value: str, node_id: int) -> frozenset[int] | None:
    """Partitions a `*.replication.throttled.replicas` value lists for `node_id`
    (None: every partition, `*`). Kafka's parseThrottledPartitions."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if items == ["*"]:
        return None
    out = set()
    for item in items:
        partition, _, broker = item.partition(":")
        if broker.strip().isdigit() and int(broker) == node_id and partition.strip().isdigit():
            out.add(int(partition))
    return frozenset(out)
