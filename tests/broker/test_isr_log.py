"""What the ISR manager logs at INFO: one line per set of followers and
reason, naming the partitions (issue 12: events that come in crowds are
summarised; the per-partition proposals are at DEBUG). A proposal sent again
after an unanswered AlterPartition is not announced again."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio
import trio.testing

from kraft.broker.controller_channel import ControllerUnavailable
from kraft.broker.isr import IsrManager
from kraft.metadata.image import EMPTY
from tests.broker.test_partition_replication import open_partition, registration


class Channel:
    """Leaves the first AlterPartition unanswered, answers the next without errors."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, request: object, timeout_s: float) -> object:
        self.sent += 1
        if self.sent == 1:
            raise ControllerUnavailable("no active controller")
        return SimpleNamespace(error_code=0, topics=())


async def test_followers_back_in_the_isr_are_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        autojump_clock: trio.testing.MockClock) -> None:
    channel = Channel()
    isr = IsrManager(1, channel, lambda: 1, lambda: EMPTY, 30_000, 7_000)  # type: ignore[arg-type]
    partitions = []
    for index in range(4):
        partition = open_partition(tmp_path / str(index), 1, index)
        partition.make_leader(registration(1, 0, (1, 3)), now_ms=0)
        partitions.append(partition)
    with caplog.at_level(logging.INFO, logger="kraft.broker"):
        async with trio.open_nursery() as nursery:
            await nursery.start(isr.run)
            for partition in partitions:
                isr._propose(partition, (1, 3, 2))
            await trio.sleep(5)                 # unanswered, sent again after 1 s
            nursery.cancel_scope.cancel()
    assert channel.sent == 2
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "node 1: followers [2] caught up; proposing them back into the ISR of 4 partitions: "
        "t-[0-3]",
        "node 1: AlterPartition unanswered (no active controller); retrying",
        "node 1: AlterPartition answered again",
    ]
    for partition in partitions:
        partition.close()
