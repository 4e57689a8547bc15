"""Partition replication state: high watermark, caught-up tracking, ISR
eligibility, follower appends and truncation, on real logs; and the replica
fetcher's handling of leader answers."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.broker.fetcher import ReplicaFetcherManager, _Fetcher, _Fetching
from kraft.broker.partition import Partition
from kraft.log.config import LogConfig
from kraft.log.records import Record, build_batch
from kraft.metadata.image import EMPTY, PartitionRegistration
from tests.log.helpers import scratch_dir

TOPIC_ID = uuid.UUID(int=9)


def open_partition(directory: Path, node_id: int, index: int = 0) -> Partition:
    return Partition.open(directory, "t", index, TOPIC_ID, LogConfig(), node_id)


def registration(leader: int, epoch: int, isr: tuple[int, ...], partition_epoch: int = 0,
                 replicas: tuple[int, ...] = (1, 2, 3)) -> PartitionRegistration:
    return PartitionRegistration(replicas=replicas, isr=isr, leader=leader, leader_epoch=epoch,
                                 partition_epoch=partition_epoch)


def produce(partition: Partition, n: int, producer_id: int = -1, sequence: int = -1) -> None:
    batch = build_batch([Record(None, b"v%d" % i, timestamp=1) for i in range(n)],
                        producer_id=producer_id, producer_epoch=0 if producer_id >= 0 else -1,
                        base_sequence=sequence)
    result = partition.append_as_leader(memoryview(batch))
    assert result.info.error_code == 0, result.info


def test_high_watermark_waits_for_every_isr_member(tmp_path: Path) -> None:
    """The leader's high watermark is the smallest ISR log end offset; a follower
    that never fetched holds it back; a follower outside the ISR does not."""
    leader = open_partition(tmp_path, 1)
    leader.make_leader(registration(1, 0, (1, 2)), now_ms=0)
    produce(leader, 5)
    assert leader.high_watermark == 0
    leader.update_follower_fetch_state(3, 5, now_ms=10)  # not in the ISR: irrelevant
    assert leader.high_watermark == 0
    leader.update_follower_fetch_state(2, 3, now_ms=10)
    assert leader.high_watermark == 3
    leader.update_follower_fetch_state(2, 5, now_ms=20)
    assert leader.high_watermark == 5
    leader.close()


@given(st.lists(st.tuples(st.sampled_from([2, 3]), st.integers(0, 30)), max_size=30))
def test_leader_high_watermark_never_moves_backwards(fetches: list[tuple[int, int]]) -> None:
    """Whatever followers report, in any order, the leader's high watermark only grows
    and never exceeds what every ISR member has reported holding at some point."""
    with scratch_dir() as directory:
        leader = open_partition(directory, 1)
        leader.make_leader(registration(1, 0, (1, 2, 3)), now_ms=0)
        produce(leader, 30)
        seen = {2: -1, 3: -1}
        previous = leader.high_watermark
        for replica, offset in fetches:
            leader.update_follower_fetch_state(replica, offset, now_ms=1)
            seen[replica] = max(seen[replica], offset)
            assert leader.high_watermark >= previous
            previous = leader.high_watermark
            assert leader.high_watermark <= max(0, min(seen.values()))
        leader.close()


def test_pending_isr_addition_counts_for_the_high_watermark(tmp_path: Path) -> None:
    """While an ISR addition is in flight the new member already holds the high
    watermark back (KIP-497), so it never lags what was acknowledged."""
    leader = open_partition(tmp_path, 1)
    leader.make_leader(registration(1, 0, (1,)), now_ms=0)
    produce(leader, 4)
    assert leader.high_watermark == 4
    leader.pending_isr = (1, 2)
    produce(leader, 2)
    assert leader.high_watermark == 4  # follower 2 unknown: the addition holds it
    leader.update_follower_fetch_state(2, 6, now_ms=1)
    assert leader.high_watermark == 6
    leader.close()


def test_caught_up_tracking_and_out_of_sync(tmp_path: Path) -> None:
    """A follower fetching at the leader's end is caught up now; one that fetches
    at the end the leader had at its previous fetch is caught up as of then; ISR
    members not caught up for longer than the lag limit are out of sync."""
    leader = open_partition(tmp_path, 1)
    leader.make_leader(registration(1, 0, (1, 2, 3)), now_ms=0)
    produce(leader, 5)
    leader.update_follower_fetch_state(2, 5, now_ms=100)   # at the end: caught up at 100
    leader.update_follower_fetch_state(3, 2, now_ms=100)   # behind
    produce(leader, 5)
    leader.update_follower_fetch_state(3, 5, now_ms=200)   # reached the end of its last fetch
    assert leader.remote[2].last_caught_up_ms == 100
    assert leader.remote[3].last_caught_up_ms == 100
    assert leader.out_of_sync_replicas(now_ms=150, lag_ms=100) == []
    assert sorted(leader.out_of_sync_replicas(now_ms=250, lag_ms=100)) == [2, 3]
    leader.update_follower_fetch_state(2, 10, now_ms=240)
    assert leader.out_of_sync_replicas(now_ms=250, lag_ms=100) == [3]
    leader.close()


def test_joining_the_isr_needs_the_high_watermark_and_the_epoch_start(tmp_path: Path) -> None:
    """A follower may join once it holds everything below the high watermark and
    below the start of the current leader epoch."""
    leader = open_partition(tmp_path, 1)
    leader.make_leader(registration(1, 0, (1, 2)), now_ms=0)
    produce(leader, 4)                       # follower 2 never fetched: hwm stays 0
    leader.make_leader(registration(1, 1, (1, 2), partition_epoch=1), now_ms=1)  # epoch 1 at 4
    assert leader.high_watermark == 0
    leader.update_follower_fetch_state(3, 2, now_ms=2)
    assert not leader.ready_to_join_isr(3)   # above the high watermark, below the epoch start
    produce(leader, 2)
    leader.update_follower_fetch_state(2, 6, now_ms=3)
    assert leader.high_watermark == 6
    leader.update_follower_fetch_state(3, 4, now_ms=3)
    assert not leader.ready_to_join_isr(3)   # at the epoch start, below the high watermark
    leader.update_follower_fetch_state(3, 6, now_ms=4)
    assert leader.ready_to_join_isr(3)
    assert not leader.ready_to_join_isr(2)   # already a member
    leader.close()


def test_follower_append_truncate_and_producer_state(tmp_path: Path) -> None:
    """Batches copied from a leader keep their offsets and epochs and register their
    producers; truncation drops both the data and the producer state above it."""
    leader = open_partition(tmp_path / "leader", 1)
    leader.make_leader(registration(1, 0, (1,)), now_ms=0)
    produce(leader, 2, producer_id=7, sequence=0)
    produce(leader, 3, producer_id=7, sequence=2)
    follower = open_partition(tmp_path / "follower", 2)
    follower.make_follower(registration(1, 0, (1,)))
    data = leader.log.read(0, 1 << 20).to_bytes()
    follower.append_as_follower(memoryview(data))
    assert follower.log_end_offset == 5
    assert follower.producer_state.entry(7).last_sequence == 4
    follower.update_follower_high_watermark(4)
    assert follower.high_watermark == 4
    follower.truncate_to(2)
    assert follower.log_end_offset == 2
    assert follower.high_watermark == 2
    assert follower.producer_state.entry(7).last_sequence == 1
    follower.truncate_fully_and_start_at(10)
    assert (follower.log_start_offset, follower.log_end_offset, follower.high_watermark) == (
        10, 10, 10)
    leader.close()
    follower.close()


def make_fetcher(partition: Partition, truncated: list[Partition]) -> tuple[_Fetcher, _Fetching]:
    manager = ReplicaFetcherManager(2, lambda: 5, lambda: EMPTY, "PLAINTEXT", truncated.append)
    fetcher = _Fetcher(manager, 1)
    state = _Fetching(partition, partition.leader_epoch)
    fetcher.partitions[(partition.topic_id, partition.partition)] = state
    return fetcher, state


def answer(**fields: object) -> SimpleNamespace:
    base = dict(error_code=ErrorCode.none, high_watermark=0, log_start_offset=0, records=None,
                diverging_epoch=SimpleNamespace(epoch=-1, end_offset=-1))
    base.update(fields)
    return SimpleNamespace(**base)


async def test_fetcher_truncates_where_the_epoch_histories_diverge(tmp_path: Path) -> None:
    """Given the leader's (epoch, end offset), the follower truncates to the smaller
    of it and its own end for that epoch, and checkpoints at once."""
    follower = open_partition(tmp_path, 2)
    follower.make_leader(registration(2, 0, (2, 1), replicas=(1, 2)), now_ms=0)
    produce(follower, 4)                      # epoch 0: offsets 0-3, which node 1 copied
    produce(follower, 2)                      # offsets 4-5, which it did not
    follower.make_follower(registration(1, 1, (1, 2), replicas=(1, 2)))
    truncated: list[Partition] = []
    fetcher, state = make_fetcher(follower, truncated)
    fetcher._handle(state, answer(diverging_epoch=SimpleNamespace(epoch=0, end_offset=4)))
    assert follower.log_end_offset == 4
    assert truncated == [follower]
    fetcher._handle(state, answer(error_code=ErrorCode.fenced_leader_epoch))
    assert state.delayed_until > 0


async def test_fetcher_restarts_below_the_leader_log_start(tmp_path: Path) -> None:
    """OFFSET_OUT_OF_RANGE with our end below the leader's log start restarts the
    log there; then appends and the leader's high watermark follow."""
    follower = open_partition(tmp_path, 2)
    follower.make_follower(registration(1, 3, (1, 2), replicas=(1, 2)))
    fetcher, state = make_fetcher(follower, [])
    fetcher._handle(state, answer(error_code=ErrorCode.offset_out_of_range, log_start_offset=50,
                                  high_watermark=60))
    assert (follower.log_start_offset, follower.log_end_offset) == (50, 50)
    batch = bytearray(build_batch([Record(None, b"x", timestamp=1)], base_offset=50,
                                  partition_leader_epoch=3))
    fetcher._handle(state, answer(records=bytes(batch), high_watermark=51, log_start_offset=50))
    assert follower.log_end_offset == 51
    assert follower.high_watermark == 51


async def test_an_empty_epoch_at_the_log_end_is_dropped_on_divergence(tmp_path: Path) -> None:
    """A replica that led an epoch briefly without appending (its epoch cache ends
    with an empty epoch at the log end) drops that epoch when the new leader says
    its history diverges there, so its next fetch names its real last epoch
    instead of getting the same answer forever."""
    follower = open_partition(tmp_path, 2)
    follower.make_leader(registration(2, 0, (2, 1), replicas=(1, 2)), now_ms=0)
    produce(follower, 4)                                      # epoch 0: offsets 0-3
    follower.make_leader(registration(2, 1, (2, 1), partition_epoch=1, replicas=(1, 2)),
                         now_ms=1)                            # epoch 1 starts at 4, stays empty
    assert follower.log.latest_epoch == 1
    follower.make_follower(registration(1, 2, (1, 2), partition_epoch=2, replicas=(1, 2)))
    fetcher, state = make_fetcher(follower, [])
    # The leader has epoch 0 up to 4 and then its own epoch 2: asked about epoch 1
    # it answers that epoch 0 ended at 4, which is exactly our log end.
    fetcher._handle(state, answer(diverging_epoch=SimpleNamespace(epoch=0, end_offset=4)))
    assert follower.log_end_offset == 4
    assert follower.log.latest_epoch == 0


def test_a_segment_roll_snapshots_the_producer_state(tmp_path: Path) -> None:
    """When an append rolls the segment, the producer state is snapshotted at the new
    segment's base offset (Kafka's snapshot at roll), so a reopen after kill -9 starts
    from there; the state the snapshot holds is the one before the rolling batch."""
    config = LogConfig(segment_bytes=100)
    leader = Partition.open(tmp_path, "t", 0, TOPIC_ID, config, 1)
    leader.make_leader(registration(1, 0, (1,)), now_ms=0)
    produce(leader, 3, producer_id=7, sequence=0)  # offsets 0-2, fills the first segment
    assert leader.producer_state.snapshot_offsets() == []
    produce(leader, 3, producer_id=7, sequence=3)  # rolls: a new segment at 3
    assert leader.log.active_segment.base_offset == 3
    assert leader.producer_state.snapshot_offsets() == [3]
    leader.close()
    reopened = Partition.open(tmp_path, "t", 0, TOPIC_ID, config, 1)
    entry = reopened.producer_state.entry(7)
    assert entry is not None and entry.last_sequence == 5  # snapshot + the batch after it
    reopened.close()


def test_a_follower_append_rolling_midway_snapshots_at_the_new_segment(tmp_path: Path) -> None:
    """A fetch of several batches that rolls between two of them: the snapshot is taken
    at the new segment's base, holding exactly the batches below it."""
    config = LogConfig(segment_bytes=100)
    follower = Partition.open(tmp_path, "t", 0, TOPIC_ID, config, 2)
    follower.make_follower(registration(1, 0, (1, 2)))
    batches = b"".join(
        build_batch([Record(None, b"v%d" % i, timestamp=1) for i in range(3)],
                    base_offset=3 * n, producer_id=7, producer_epoch=0, base_sequence=3 * n,
                    partition_leader_epoch=0)
        for n in range(2))
    info = follower.append_as_follower(memoryview(batches))
    assert info.error_code == 0, info
    base = follower.log.active_segment.base_offset
    assert base == 3
    assert follower.producer_state.snapshot_offsets() == [3]
    follower.close()
    reopened = Partition.open(tmp_path, "t", 0, TOPIC_ID, config, 2)
    entry = reopened.producer_state.entry(7)
    assert entry is not None and entry.last_sequence == 5
    reopened.close()
