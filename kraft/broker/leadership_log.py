"""One log line per metadata update for the partitions whose leadership changed
on this broker, instead of one per partition (the first use of a group makes a
broker leader of 50 `__consumer_offsets` partitions at once; a shutdown makes
it follower of all of them). The per-partition lines are at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kraft import shutdown_log

MAX_TOPICS_NAMED = 10


def count_and_describe(partitions: list[tuple[str, int]]) -> str:
    """`3 partitions: t-[0-2]` (`1 partition: t-0`): how many, then which."""
    count = len(partitions)
    return f"{count} partition{'' if count == 1 else 's'}: {describe_partitions(partitions)}"


def describe_partitions(partitions: Iterable[tuple[str, int]]) -> str:
    """`t-[0-2], u-[0, 5], v-3`: partitions grouped by topic, runs of consecutive
    indexes as ranges; past MAX_TOPICS_NAMED topics, how many more."""
    by_topic: dict[str, list[int]] = {}
    for topic, index in partitions:
        by_topic.setdefault(topic, []).append(index)
    parts = []
    for topic in list(by_topic)[:MAX_TOPICS_NAMED]:
        indexes = sorted(by_topic[topic])
        if len(indexes) == 1:
            parts.append(f"{topic}-{indexes[0]}")
        else:
            parts.append(f"{topic}-[{', '.join(_runs(indexes))}]")
    if len(by_topic) > MAX_TOPICS_NAMED:
        parts.append(f"and {len(by_topic) - MAX_TOPICS_NAMED} more topics")
    return ", ".join(parts)


def _runs(indexes: list[int]) -> list[str]:
    runs: list[str] = []
    start = prev = indexes[0]
    for index in [*indexes[1:], None]:
        if index is not None and index == prev + 1:
            prev = index
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if index is not None:
            start = prev = index
    return runs


class LeadershipChanges:
    """Collects the partitions that became led or followed during one update."""

    def __init__(self) -> None:
        self.leader: list[tuple[str, int]] = []
        self.follower: list[tuple[str, int]] = []

    def log(self, logger: logging.Logger, node_id: int) -> None:
        for role, partitions in (("leader", self.leader), ("follower", self.follower)):
            if partitions:
                logger.log(shutdown_log.level(node_id), "node %d: now %s of %s",
                           node_id, role, count_and_describe(partitions))
