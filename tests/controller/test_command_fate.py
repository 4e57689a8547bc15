"""What a controller command answers when leadership moves before its records
commit (kraft.controller.quorum_controller): its own response if its records
commit under the next leader, NOT_CONTROLLER if another leader's entries
replace them, `unknown()` when that cannot be told. Raft is scripted: the
test proposes through a fake raft and publishes committed slices by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from kraft.config import KafkaConfig
from kraft.controller.quorum_controller import QuorumController
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage
from kraft.metadata.loader import LeaderChange, MetadataUpdate
from kraft.metadata.records import TOPIC_RESOURCE, ConfigRecord
from kraft.raft.types import (
    LeaderAndEpoch,
    LeaderChangeMessage,
    NotLeaderError,
    UnexpectedBaseOffsetError,
)
from tests.controller.test_partition_change import cluster_image

NODE, OTHER = 1, 2


@dataclass
class ScriptedLog:
    end_offset: int = 0


class ScriptedRaft:
    """Hands out offsets as a leader of `leading` would. Proposals are appended to
    the log at once, unless `lingering` (then they wait, and are dropped with
    leadership, as raft's accumulator does)."""

    def __init__(self) -> None:
        self.leading: int | None = None
        self.log = ScriptedLog()
        self.pending = 0
        self.lingering = False
        self.interleave = 0  # proposals preceded by a raft record of its own
        self.voter_addresses = {NODE: ("127.0.0.1", 9093)}
        self.kraft_version = 0
        self.lost_leader: tuple[int, int] | None = None  # RaftNode.lost_leader

    def next_write_offset(self, epoch: int) -> int:
        if epoch != self.leading:
            raise NotLeaderError(None, epoch)
        return self.log.end_offset + self.pending

    async def propose(self, payloads: list[bytes], epoch: int | None = None,
                      base_offset: int | None = None) -> int:
        if epoch != self.leading:
            raise NotLeaderError(None, epoch or 0)
        if self.interleave:  # the raft layer appends a record of its own (a VotersRecord)
            self.interleave -= 1
            self.log.end_offset += 1
        if base_offset is not None and base_offset != self.log.end_offset + self.pending:
            raise UnexpectedBaseOffsetError("moved")
        last = self.log.end_offset + self.pending + len(payloads) - 1
        if self.lingering:
            self.pending += len(payloads)
        else:
            self.log.end_offset = last + 1
        return last

    def leave(self) -> None:
        self.leading = None
        self.pending = 0


class Harness:
    def __init__(self) -> None:
        self.raft = ScriptedRaft()
        config = KafkaConfig({"node.id": str(NODE), "metadata.max.idle.interval.ms": "0",
                              "auto.leader.rebalance.enable": "false"})
        self.controller = QuorumController(config, "cluster", self.raft)  # type: ignore[arg-type]
        self.image: MetadataImage = cluster_image()

    def commit(self, offset: int, epoch: int, *changes: tuple[int, int, int]) -> None:
        """Publish the committed log up to `offset`; `changes` are the LeaderChange
        records (offset, epoch, leader) in this slice."""
        self.controller.publish(MetadataUpdate(
            image=self.image, previous=self.image, delta=None, offset=offset, epoch=epoch,
            leader_changes=tuple(
                LeaderChange(o, e, LeaderChangeMessage(leader, (NODE, OTHER), (NODE, OTHER)))
                for o, e, leader in changes),
        ))

    def lead(self, epoch: int) -> None:
        """Become the active controller of `epoch`, its LeaderChange at the log end."""
        start = self.raft.log.end_offset
        self.raft.leading = epoch
        self.raft.log.end_offset += 1
        self.controller.leader_changed(LeaderAndEpoch(NODE, epoch))
        self.commit(start, epoch, (start, epoch, NODE))
        assert self.controller.active_epoch == epoch

    def lose(self, leader: int | None, epoch: int) -> None:
        self.raft.leave()
        self.controller.leader_changed(LeaderAndEpoch(leader, epoch))


@asynccontextmanager
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.controller.run)
        h.lead(1)
        yield h
        nursery.cancel_scope.cancel()


def write(records: int = 3) -> Any:
    """A command writing `records` config records; its response names its first offset."""

    def command(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[str]:
        return ControllerResult(tuple(
            ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t", name=f"k{i}",
                         value="v") for i in range(records)), f"wrote at {ctx.next_offset}")

    return command


async def start(h: Harness, nursery: trio.Nursery, outcome: list[object],
                command: Any = None) -> None:
    """Run a command (by default `write()`) and wait until its records are proposed."""

    async def run() -> None:
        outcome.append(await h.controller.run_command(
            command or write(), lambda: "NOT_CONTROLLER", unknown=lambda: "UNKNOWN"))

    nursery.start_soon(run)
    await trio.testing.wait_all_tasks_blocked()
    assert not outcome


async def test_records_committed_by_the_next_leader_answer_the_command() -> None:
    """A command whose records the next leader commits gets its own response, not
    NOT_CONTROLLER (a retry would find its topics already created)."""
    async with harness() as h, trio.open_nursery() as nursery:
        outcome: list[object] = []
        await start(h, nursery, outcome)  # records at 1..3 in epoch 1
        h.lose(OTHER, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == []  # not answered while their fate is open
        h.commit(4, 2, (4, 2, OTHER))  # node 2 kept them and commits them with its epoch
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["wrote at 1"]


async def test_records_replaced_by_another_leader_answer_not_controller() -> None:
    """If the next leader's LeaderChange lands where the records were, they are gone:
    NOT_CONTROLLER at once (before the new log grows past them), so the request may
    be sent to the new controller."""
    async with harness() as h, trio.open_nursery() as nursery:
        outcome: list[object] = []
        await start(h, nursery, outcome)
        h.lose(OTHER, 2)
        h.commit(1, 2, (1, 2, OTHER))
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["NOT_CONTROLLER"]


async def test_records_partly_committed_are_unknown() -> None:
    """A command of which only a prefix committed is neither done nor undone."""
    async with harness() as h, trio.open_nursery() as nursery:
        outcome: list[object] = []
        await start(h, nursery, outcome)
        h.lose(OTHER, 2)
        h.commit(3, 2, (3, 2, OTHER))  # 1..2 survived, 3 was replaced
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["UNKNOWN"]


async def test_records_raft_never_appended_answer_not_controller_at_once() -> None:
    """Records still lingering in raft when leadership is lost are dropped by raft:
    NOT_CONTROLLER at once, the default when no unknown() is given."""
    async with harness() as h, trio.open_nursery() as nursery:
        h.raft.lingering = True
        outcome: list[object] = []
        await start(h, nursery, outcome)

        async def default() -> None:
            outcome.append(await h.controller.run_command(write(1), lambda: "NC"))

        nursery.start_soon(default)
        await trio.testing.wait_all_tasks_blocked()
        h.lose(None, 1)  # resigned, e.g. the node stops
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(map(str, outcome)) == ["NC", "NOT_CONTROLLER"]


async def test_a_resigned_controller_still_learns_the_fate() -> None:
    """A leader that resigned with its records appended (raft's check-quorum after a
    pause) answers once the next leader's log tells."""
    async with harness() as h, trio.open_nursery() as nursery:
        outcome: list[object] = []
        await start(h, nursery, outcome)
        h.lose(None, 1)
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == []
        h.commit(4, 2, (4, 2, OTHER))
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["wrote at 1"]


async def test_a_snapshot_over_the_records_leaves_the_fate_unknown() -> None:
    """A snapshot replacing the log hides which entries it holds."""
    async with harness() as h, trio.open_nursery() as nursery:
        outcome: list[object] = []
        await start(h, nursery, outcome)
        h.lose(OTHER, 2)
        h.controller.publish(MetadataUpdate(image=h.image, previous=h.image, delta=None,
                                            offset=10, epoch=2, from_snapshot=True))
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["UNKNOWN"]


async def test_a_read_after_lost_records_is_lost_too() -> None:
    """A command without records answered from records that never commit did not
    see the committed state: NOT_CONTROLLER, like the write it read."""
    async with harness() as h, trio.open_nursery() as nursery:
        outcome: list[object] = []
        await start(h, nursery, outcome)

        def read(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[str]:
            return ControllerResult((), "read")

        read_outcome: list[object] = []
        await start(h, nursery, read_outcome, read)
        h.lose(OTHER, 2)
        h.commit(3, 2, (1, 2, OTHER))
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["NOT_CONTROLLER"] and read_outcome == ["NOT_CONTROLLER"]


async def test_not_active_answers_not_controller_at_once() -> None:
    """A command reaching a controller that is not active did not run."""
    async with harness() as h:
        h.lose(OTHER, 2)
        assert await h.controller.run_command(
            write(), lambda: "NOT_CONTROLLER", unknown=lambda: "UNKNOWN") == "NOT_CONTROLLER"


async def test_a_raft_record_between_offset_and_proposal_reruns_the_command() -> None:
    """When raft appends a record of its own (AddRaftVoter's VotersRecord) after the
    controller read the next offset, the proposal is refused and the command runs
    again on the new offset: its records carry the offsets they really get."""
    async with harness() as h, trio.open_nursery() as nursery:
        h.raft.interleave = 1
        outcome: list[object] = []
        await start(h, nursery, outcome)  # offset 1 taken by raft: records at 2..4
        h.commit(4, 1)
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["wrote at 2"]
