"""QuorumController on a real one-voter raft node: activation, commit-gated
responses, speculative state, and losing leadership."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from kraft.config import KafkaConfig
from kraft.controller.quorum_controller import (
    METADATA_VERSION_LEVEL,
    QUEUE_SIZE,
    QuorumController,
)
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata import bootstrap
from kraft.metadata.image import ConfigResource, MetadataImage
from kraft.metadata.loader import MetadataLoader
from kraft.metadata.records import (
    TOPIC_RESOURCE,
    TRANSACTION_VERSION,
    ConfigRecord,
    FeatureLevelRecord,
)
from kraft.raft.config import QuorumConfig
from kraft.raft.disk_log import DiskLog
from kraft.raft.driver import RaftNode

RESOURCE = ConfigResource(TOPIC_RESOURCE, "t")


@asynccontextmanager
async def controller_node(
    tmp_path: Path, linger_ms: int = 1, metadata_log_dir: Path | None = None
) -> AsyncIterator[tuple[QuorumController, RaftNode, MetadataLoader]]:
    props = {"node.id": "1", "metadata.max.idle.interval.ms": "0"}
    if metadata_log_dir is not None:
        props["metadata.log.dir"] = str(metadata_log_dir)
    config = KafkaConfig(props)
    quorum = QuorumConfig(node_id=1, voters=(1,), append_linger_ms=linger_ms)
    raft_log = DiskLog(tmp_path)
    holder: list[RaftNode] = []
    loader = MetadataLoader(raft_log, lambda: holder[0].high_watermark, 1)
    raft = RaftNode(quorum, raft_log, raft_log.dir, {}, loader, rng=random.Random(1))
    holder.append(raft)
    controller = QuorumController(config, "cluster", raft, rng=random.Random(1))
    loader.add_publisher(controller)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(raft.run)
            await nursery.start(controller.run)
            with trio.fail_after(10):
                await controller.activated.wait()
                while linger_ms < 1000 and loader.image.features.metadata_version == 0:
                    await trio.sleep(0.005)  # the bootstrap record is committed
            yield controller, raft, loader
            nursery.cancel_scope.cancel()
    finally:
        raft_log.close()


def set_config(name: str, value: str):  # type: ignore[no-untyped-def]
    """A command setting one config; its response is (the value it saw, its offset)."""

    def command(
        image: MetadataImage, ctx: ControllerContext
    ) -> ControllerResult[tuple[str, int]]:
        before = image.configs.get(RESOURCE).get(name, "")
        record = ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t", name=name,
                              value=value)
        return ControllerResult((record,), (before, ctx.next_offset))

    return command


async def test_activation_bootstraps_metadata_version(tmp_path: Path) -> None:
    """The controller becomes active on its own leader epoch and writes metadata.version."""
    async with controller_node(tmp_path) as (controller, _raft, loader):
        assert controller.is_active
        with trio.fail_after(10):
            while loader.image.features.metadata_version == 0:
                await trio.sleep(0.01)
        assert loader.image.features.metadata_version == METADATA_VERSION_LEVEL


async def test_activation_writes_the_formats_feature_levels(tmp_path: Path) -> None:
    """A transaction.version chosen at format (`--feature`, in the bootstrap records)
    replaces the default level; the other bootstrap records follow."""
    meta = tmp_path / "meta"
    bootstrap.write(meta, [FeatureLevelRecord(name=TRANSACTION_VERSION, feature_level=1)])
    async with controller_node(tmp_path / "log", metadata_log_dir=meta) as (_c, _r, loader):
        with trio.fail_after(10):
            while TRANSACTION_VERSION not in loader.image.features.levels:
                await trio.sleep(0.01)
        assert loader.image.features.levels[TRANSACTION_VERSION] == 1
        assert loader.image.features.metadata_version == METADATA_VERSION_LEVEL


async def test_response_waits_for_commit_and_commands_see_each_other(tmp_path: Path) -> None:
    """A response is released only once its records are committed, and a command
    sees the effects of earlier ones even before they commit."""
    async with controller_node(tmp_path, linger_ms=50) as (controller, _raft, loader):
        results: dict[str, str] = {}

        async def run(value: str) -> None:
            seen, offset = await controller.run_command(set_config("x", value), lambda: "NC")
            assert controller.committed_offset >= offset
            results[value] = seen

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "1")
            await trio.sleep(0.001)
            nursery.start_soon(run, "2")
        assert results == {"1": "", "2": "1"}  # the second saw the first, uncommitted then
        assert loader.image.configs.get(RESOURCE)["x"] == "2"
        assert controller.committed_image.configs.get(RESOURCE)["x"] == "2"


async def test_command_without_records_answers_at_once(tmp_path: Path) -> None:
    """A read-only result needs no commit."""
    async with controller_node(tmp_path) as (controller, raft, _loader):
        def read(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[int]:
            return ControllerResult((), ctx.next_offset)

        offset = await controller.run_command(read, lambda: -1)
        assert offset == raft.next_write_offset(controller.active_epoch)  # type: ignore[arg-type]


async def test_losing_leadership_answers_not_controller(tmp_path: Path) -> None:
    """A command whose records are not committed when leadership is lost gets the
    caller's NOT_CONTROLLER answer, and later commands too."""
    async with controller_node(tmp_path, linger_ms=60_000) as (controller, raft, _loader):
        outcome: list[object] = []

        async def run() -> None:
            outcome.append(await controller.run_command(set_config("y", "1"), lambda: "NC"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            with trio.fail_after(10):
                while not controller._waiting:
                    await trio.sleep(0.001)
            await raft.shutdown()
        assert outcome == ["NC"]
        assert not controller.is_active
        assert await controller.run_command(set_config("y", "2"), lambda: "NC") == "NC"


async def test_a_read_waits_for_the_records_it_saw(tmp_path: Path) -> None:
    """A command that writes nothing but read the speculative image is answered only
    once the records appended before it are committed."""
    async with controller_node(tmp_path, linger_ms=200) as (controller, _raft, _loader):
        written: list[int] = []

        async def write() -> None:
            _seen, offset = await controller.run_command(set_config("z", "1"), lambda: "NC")
            written.append(offset)

        def read(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[str]:
            return ControllerResult((), image.configs.get(RESOURCE).get("z", ""))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            with trio.fail_after(10):
                while not controller._waiting:
                    await trio.sleep(0.001)
            seen = await controller.run_command(read, lambda: "NC")
            assert seen == "1"
            assert controller.committed_offset >= controller.image.provenance.offset


async def test_more_commands_than_the_queue_holds_are_all_answered(tmp_path: Path) -> None:
    """Three queues' worth of concurrent commands: callers wait for room, and each
    command runs once, in its own turn, and is answered after its record commits."""
    async with controller_node(tmp_path) as (controller, _raft, loader):
        offsets: list[int] = []

        async def run(i: int) -> None:
            _seen, offset = await controller.run_command(set_config(f"k{i}", "v"), lambda: "NC")
            assert controller.committed_offset >= offset
            offsets.append(offset)

        async with trio.open_nursery() as nursery:
            for i in range(3 * QUEUE_SIZE):
                nursery.start_soon(run, i)
        assert len(set(offsets)) == 3 * QUEUE_SIZE
        assert set(loader.image.configs.get(RESOURCE)) == {f"k{i}" for i in range(3 * QUEUE_SIZE)}
