"""Leadership changes are logged as one line per metadata update."""

import logging

import pytest

from kraft.broker.leadership_log import MAX_TOPICS_NAMED, LeadershipChanges, describe_partitions


def test_partitions_grouped_by_topic_with_ranges() -> None:
    """Consecutive indexes become ranges, topics keep their first-seen order."""
    partitions = [("t", 2), ("t", 0), ("t", 1), ("u", 5), ("u", 0), ("v", 3),
                  *(("__consumer_offsets", i) for i in range(50) if i != 7)]
    assert describe_partitions(partitions) == (
        "t-[0-2], u-[0, 5], v-3, __consumer_offsets-[0-6, 8-49]")


def test_many_topics_are_counted_not_listed() -> None:
    """Past MAX_TOPICS_NAMED topics the line says how many more."""
    partitions = [(f"topic{i}", 0) for i in range(MAX_TOPICS_NAMED + 3)]
    assert describe_partitions(partitions).endswith(", and 3 more topics")


def test_one_line_per_role(caplog: pytest.LogCaptureFixture) -> None:
    """Fifty partitions led and two followed give two INFO lines, none when nothing changed."""
    logger = logging.getLogger("test.leadership")
    changes = LeadershipChanges()
    changes.leader.extend(("__consumer_offsets", i) for i in range(50))
    changes.follower.extend([("t", 0), ("t", 1)])
    with caplog.at_level(logging.INFO, logger="test.leadership"):
        changes.log(logger, 1)
        LeadershipChanges().log(logger, 1)
    assert [r.getMessage() for r in caplog.records] == [
        "node 1: now leader of 50 partitions: __consumer_offsets-[0-49]",
        "node 1: now follower of 2 partitions: t-[0-1]",
    ]
