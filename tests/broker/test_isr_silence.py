"""kraft.replica.fetch.silence.max.ms (docs/design.md, failing over, 6): an ISR
follower from which the leader has heard no fetch for that long leaves the ISR;
one that fetches but lags keeps Kafka's replica.lag.time.max.ms; -1 gives
Kafka's rule alone. Pure Partition and IsrManager checks, and the replica
manager's check cadence on the autojump clock."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
import trio.testing

from kraft.broker.isr import IsrManager
from kraft.broker.partition import Partition
from kraft.broker.replica_manager import isr_check_interval_ms
from kraft.config import ConfigError, KafkaConfig
from kraft.metadata.image import EMPTY
from tests.broker.replica_harness import Script, topic
from tests.broker.test_partition_replication import open_partition, produce, registration

LAG_MS = 30_000     # replica.lag.time.max.ms, Kafka's default
SILENCE_MS = 9_000  # a kraft.replica.fetch.silence.max.ms (its default is 7000)
SILENCE_KEY = "kraft.replica.fetch.silence.max.ms"


def leader_of_three(tmp_path: Path, now_ms: int = 0, index: int = 0) -> Partition:
    """Node 1 leading t-`index` with ISR {1, 2, 3} since `now_ms`, 5 records written."""
    leader = open_partition(tmp_path, 1, index)
    leader.make_leader(registration(1, 0, (1, 2, 3)), now_ms=now_ms)
    produce(leader, 5)
    return leader


def isr_manager(silence_ms: int = SILENCE_MS) -> IsrManager:
    return IsrManager(1, None, lambda: 1, lambda: EMPTY, LAG_MS, silence_ms)  # type: ignore[arg-type]


def test_a_silent_follower_leaves_after_the_silence_limit(tmp_path: Path) -> None:
    """A caught-up follower that stops fetching is out of sync once no fetch has
    arrived for more than the silence limit, long before the lag limit."""
    leader = leader_of_three(tmp_path)
    leader.update_follower_fetch_state(2, 5, now_ms=1_000)   # caught up, then silent
    for now in range(1_000, 12_001, 500):                    # 3 keeps fetching at the end
        leader.update_follower_fetch_state(3, leader.log_end_offset, now_ms=now)
    assert leader.out_of_sync_replicas(10_000, LAG_MS, SILENCE_MS) == []
    assert leader.out_of_sync_replicas(10_001, LAG_MS, SILENCE_MS) == [2]
    assert leader.silent_replicas(10_001, SILENCE_MS) == [2]
    leader.close()


def test_a_follower_that_fetches_but_lags_stays_until_the_lag_limit(tmp_path: Path) -> None:
    """A follower that keeps fetching but never reaches the leader's end is never
    silent: it leaves by Kafka's lag rule, after replica.lag.time.max.ms."""
    leader = leader_of_three(tmp_path)
    for now in range(500, 31_001, 500):
        produce(leader, 1)                                   # the leader stays ahead
        leader.update_follower_fetch_state(2, 1, now_ms=now)
        leader.update_follower_fetch_state(3, leader.log_end_offset, now_ms=now)
    assert leader.silent_replicas(30_000, SILENCE_MS) == []
    assert leader.out_of_sync_replicas(30_000, LAG_MS, SILENCE_MS) == []
    assert leader.out_of_sync_replicas(30_001, LAG_MS, SILENCE_MS) == [2]
    leader.close()


def test_disabled_gives_kafkas_rule_alone(tmp_path: Path) -> None:
    """With the silence limit at -1, a follower silent for 29 s stays in sync;
    once the leader has written past it, it leaves after replica.lag.time.max.ms;
    one at the leader's end never leaves (Kafka's isCaughtUp)."""
    leader = leader_of_three(tmp_path)
    leader.update_follower_fetch_state(2, 5, now_ms=1_000)
    leader.update_follower_fetch_state(3, 5, now_ms=1_000)
    assert leader.silent_replicas(30_000, -1) == []
    assert leader.out_of_sync_replicas(30_000, LAG_MS, -1) == []
    assert leader.out_of_sync_replicas(100_000, LAG_MS, -1) == []   # both at the end
    produce(leader, 1)
    assert leader.out_of_sync_replicas(30_000, LAG_MS, -1) == []
    assert sorted(leader.out_of_sync_replicas(31_001, LAG_MS, -1)) == [2, 3]
    leader.close()


def test_silence_counts_at_the_leaders_end_too(tmp_path: Path) -> None:
    """A follower at the leader's end that stops fetching (an idle partition)
    leaves by the silence rule, so the next acks=all write does not wait for it."""
    leader = leader_of_three(tmp_path)
    leader.update_follower_fetch_state(2, 5, now_ms=1_000)
    leader.update_follower_fetch_state(3, 5, now_ms=10_000)
    assert leader.out_of_sync_replicas(10_001, LAG_MS, SILENCE_MS) == [2]
    leader.close()


def test_a_new_leader_gives_its_isr_the_full_silence_limit(tmp_path: Path) -> None:
    """ISR members count as heard when a replica becomes leader, so none is dropped
    before it could fetch from the new leader; a replica outside the ISR is not
    judged at all."""
    leader = open_partition(tmp_path, 1)
    leader.make_leader(registration(1, 3, (1, 2)), now_ms=100_000)
    assert leader.out_of_sync_replicas(109_000, LAG_MS, SILENCE_MS) == []
    assert leader.out_of_sync_replicas(109_001, LAG_MS, SILENCE_MS) == [2]
    leader.close()


def test_the_isr_manager_proposes_the_isr_without_the_silent_follower(tmp_path: Path) -> None:
    """maybe_shrink proposes (AlterPartition, pending) the ISR minus a silent
    follower; not when it is told the silence is its own (a stalled loop) or
    when the rule is off."""
    for silence_ms, silence, expected in ((SILENCE_MS, True, (1, 3)), (SILENCE_MS, False, None),
                                          (-1, True, None)):
        leader = leader_of_three(tmp_path / f"{silence_ms}{silence}")
        leader.update_follower_fetch_state(2, 5, now_ms=1_000)
        leader.update_follower_fetch_state(3, 5, now_ms=10_000)
        isr_manager(silence_ms).maybe_shrink(leader, 10_500, silence=silence)
        assert leader.pending_isr == expected, (silence_ms, silence)
        leader.close()


def test_check_cadence() -> None:
    """The ISR check runs every replica.lag.time.max.ms / 2 (Kafka's) with the
    silence rule off, and every tenth of the silence limit when that is shorter."""
    assert isr_check_interval_ms(LAG_MS, -1) == 15_000
    assert isr_check_interval_ms(LAG_MS, SILENCE_MS) == 900
    assert isr_check_interval_ms(1_000, SILENCE_MS) == 500


def test_the_key_default_off_and_bounds(tmp_path: Path) -> None:
    """The key defaults to 7000 ms (broker.session.timeout.ms minus
    broker.heartbeat.interval.ms, at their defaults), takes -1 for off, and
    refuses 0 or other negatives with one line naming the key."""
    base = {"log.dirs": str(tmp_path), "node.id": "1"}
    config = KafkaConfig(base)
    assert config.kraft_replica_fetch_silence_max_ms == 7000 == (
        config["broker.session.timeout.ms"] - config["broker.heartbeat.interval.ms"])
    assert KafkaConfig({**base, SILENCE_KEY: "-1"}).kraft_replica_fetch_silence_max_ms == -1
    for bad in ("0", "-2"):
        with pytest.raises(ConfigError, match=SILENCE_KEY) as e:
            KafkaConfig({**base, SILENCE_KEY: bad})
        assert "\n" not in str(e.value)


async def test_the_replica_manager_checks_at_the_silence_cadence(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """With the default silence limit the replica manager checks every 0.7 s,
    and a check that wakes more than an interval late (the loop was stalled)
    leaves the silence rule out of that one check only."""
    script = Script(tmp_path)
    script.step(*topic())
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(script.manager.run)
        await trio.sleep(1.5)                # checks at 0.7 and 1.4
        autojump_clock.jump(5.5)             # a 5.5 s stall: the 2.1 check wakes at 7
        await trio.sleep(0.8)                # and the next one 0.7 s later
        nursery.cancel_scope.cancel()
    assert [round(at - start, 3) for _, at in script.isr.checks] == [0.7, 1.4, 7.0, 7.7]
    assert script.isr.silence == [True, True, False, True]
    script.close()


def test_a_silence_shrink_is_logged_as_an_isr_shrink(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A follower dropped for silence is logged with the words
    scripts/bench_stability.py counts as an ISR shrink: once at INFO for every
    partition it was dropped from, naming them."""
    leaders = [leader_of_three(tmp_path / str(i), index=i) for i in range(3)]
    for leader in leaders:
        leader.update_follower_fetch_state(3, 5, now_ms=10_000)
    with caplog.at_level("INFO", logger="kraft.broker"):
        isr_manager().shrink(leaders, 10_500)
    assert [leader.pending_isr for leader in leaders] == [(1, 3)] * 3
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "node 1: followers [2] out of sync for over 9000 ms: no fetch at all, in 3 partitions: "
        "t-[0-2]; proposing ISRs without them"]
    for leader in leaders:
        leader.close()
