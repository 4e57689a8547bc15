"""Requests that wait in the purgatory, through their handlers, on a replica
manager fed scripted images (trio's autojump clock): acks=all produce, fetch
long poll and DeleteRecords complete when their partition changes, answer at
their timeout otherwise, and never leave a watcher behind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing
from kio.schema.errors import ErrorCode

from kraft.broker.handlers import delete_records, fetch, produce
from kraft.broker.partition import Partition
from kraft.log.records import Record, build_batch
from kraft.metadata.records import TOPIC_RESOURCE, ConfigRecord, PartitionChangeRecord
from kraft.net.codec import RequestHeader
from kraft.net.server import Deferred, RequestContext
from kraft.security.access import Access
from tests.broker.replica_harness import NODE, OLD, Script, topic

CTX = RequestContext("test", "PLAINTEXT")
FOLLOWER = 2


def broker_of(script: Script, session: Any = None) -> Any:
    """What the handlers read from BrokerServer."""
    return SimpleNamespace(image=script.image, replica_manager=script.manager, isr=None,
                           session=session, access=Access(None), config=script.config)


def leader(script: Script) -> Partition:
    partition = script.partition()
    assert partition is not None and partition.is_leader
    return partition


async def produce_all(script: Script, timeout_s: float = 5, session: Any = None) -> Any:
    """One acks=all Produce v9 of three records to t-0; its (deferred) answer."""
    records = build_batch([Record(None, b"v%d" % i, timestamp=1) for i in range(3)])
    request = SimpleNamespace(
        acks=-1, transactional_id=None, timeout=timedelta(seconds=timeout_s),
        topic_data=[SimpleNamespace(name="t", partition_data=[
            SimpleNamespace(index=0, records=records)])])
    deferred = await produce.handle(broker_of(script, session), CTX,
                                    RequestHeader(0, 9, 1, None), request)
    if session is None:
        assert isinstance(deferred, Deferred)
    response = await deferred.wait() if isinstance(deferred, Deferred) else deferred
    return response.responses[0].partition_responses[0]


async def run_with(script: Script, request: Any, change: Any, after_s: float = 1) -> Any:
    """Run `request()` and, `after_s` into it, `change()`; return the answer and
    the time it took."""
    answers: list[Any] = []

    async def ask() -> None:
        start = trio.current_time()
        answers.append(await request())
        answers.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await trio.sleep(after_s)
        change()
    assert len(script.manager.purgatory) == 0  # nothing left watching
    return answers


async def test_acks_all_times_out_without_leaving_a_watcher(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A follower in the ISR that never fetches: REQUEST_TIMED_OUT at the request's
    timeout, and the purgatory holds nothing afterwards."""
    script = Script(tmp_path)
    script.step(*topic())
    start = trio.current_time()
    answer = await produce_all(script, timeout_s=5)
    assert answer.error_code == ErrorCode.request_timed_out
    assert trio.current_time() - start == 5
    assert len(script.manager.purgatory) == 0
    script.close()


async def test_acks_all_completes_when_the_follower_catches_up(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """The answer comes when the follower's fetch moves the high watermark past the
    batch, with the batch's base offset."""
    script = Script(tmp_path)
    script.step(*topic())
    partition = leader(script)
    answer, took = await run_with(
        script, lambda: produce_all(script),
        lambda: partition.update_follower_fetch_state(FOLLOWER, 3, now_ms=1))
    assert (answer.error_code, answer.base_offset, took) == (ErrorCode.none, 0, 1)
    script.close()


async def test_acks_all_answers_not_leader_as_soon_as_leadership_moves(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A produce waiting on a partition whose leadership moves away answers
    NOT_LEADER_OR_FOLLOWER with the image that moves it, not at its timeout."""
    script = Script(tmp_path)
    script.step(*topic())
    answer, took = await run_with(
        script, lambda: produce_all(script),
        lambda: script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, leader=FOLLOWER)))
    assert (answer.error_code, took) == (ErrorCode.not_leader_or_follower, 1)
    script.close()


async def test_acks_all_fails_when_min_insync_replicas_rises_above_the_isr(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Raising the topic's min.insync.replicas above the ISR while a produce waits
    answers NOT_ENOUGH_REPLICAS_AFTER_APPEND at once."""
    script = Script(tmp_path)
    script.step(*topic())
    answer, took = await run_with(
        script, lambda: produce_all(script),
        lambda: script.step(ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t",
                                         name="min.insync.replicas", value="3")))
    assert (answer.error_code, took) == (ErrorCode.not_enough_replicas_after_append, 1)
    script.close()


class Session:
    """A broker session valid until `until` (trio time), as the lifecycle reports it."""

    def __init__(self, until: float) -> None:
        self.session_valid_until: float | None = until

    def presumed_fenced(self) -> bool:
        until = self.session_valid_until
        return until is not None and trio.current_time() > until


async def test_acks_all_answers_not_leader_once_the_broker_presumes_itself_fenced(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A produce waiting when the broker's session runs out (heartbeats unanswered
    for a session timeout) answers NOT_LEADER_OR_FOLLOWER then, not at its
    timeout; a new produce is refused at once without being written."""
    script = Script(tmp_path)
    script.step(*topic())
    session = Session(trio.current_time() + 2)
    start = trio.current_time()
    answer = await produce_all(script, timeout_s=30, session=session)
    assert answer.error_code == ErrorCode.not_leader_or_follower
    assert 2 < trio.current_time() - start < 30
    assert len(script.manager.purgatory) == 0
    end = leader(script).log_end_offset
    answer = await produce_all(script, timeout_s=30, session=session)
    assert answer.error_code == ErrorCode.not_leader_or_follower
    assert leader(script).log_end_offset == end
    script.close()


async def test_acks_all_waits_on_while_the_session_is_renewed(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A session renewed before it runs out changes nothing: the produce completes
    when the follower catches up."""
    script = Script(tmp_path)
    script.step(*topic())
    session = Session(trio.current_time() + 2)
    partition = leader(script)

    async def later() -> None:
        await trio.sleep(1.5)
        session.session_valid_until = trio.current_time() + 9

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        answer, took = await run_with(script, lambda: produce_all(script, session=session),
                                      lambda: partition.update_follower_fetch_state(
                                          FOLLOWER, 3, now_ms=1), after_s=4)
    assert (answer.error_code, answer.base_offset, took) == (ErrorCode.none, 0, 4)
    script.close()


async def consume(script: Script, offset: int, max_wait_s: float = 5) -> Any:
    """A consumer's Fetch v4 of t-0 from `offset`, min_bytes 1; t-0's answer."""
    request = SimpleNamespace(
        replica_id=-1, max_wait=timedelta(seconds=max_wait_s), min_bytes=1, max_bytes=1 << 20,
        isolation_level=0, topics=[SimpleNamespace(topic="t", partitions=[SimpleNamespace(
            partition=0, fetch_offset=offset, partition_max_bytes=1 << 20)])])
    response = await fetch.handle(broker_of(script), CTX, RequestHeader(1, 4, 1, None), request)
    return response.responses[0].partitions[0]


async def test_a_fetch_long_poll_answers_when_records_arrive(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A consumer fetch at the end of the log waits; an append that is below the
    high watermark (single-replica ISR) answers it with the records at once."""
    script = Script(tmp_path)
    script.step(*topic(replicas=(NODE,)))
    partition = leader(script)
    batch = build_batch([Record(None, b"x", timestamp=1)])
    answer, took = await run_with(script, lambda: consume(script, 0),
                                  lambda: partition.append_as_leader(memoryview(batch)))
    assert (answer.error_code, answer.high_watermark, took) == (ErrorCode.none, 1, 1)
    assert bytes(answer.records)[17:] == batch[17:]  # the append rewrote only the prefix
    script.close()


async def test_a_fetch_long_poll_ignores_records_above_the_high_watermark(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Records not yet replicated do not end a consumer's long poll: it answers
    empty at max_wait, leaving no watcher."""
    script = Script(tmp_path)
    script.step(*topic())
    partition = leader(script)
    batch = build_batch([Record(None, b"x", timestamp=1)])
    answer, took = await run_with(script, lambda: consume(script, 0),
                                  lambda: partition.append_as_leader(memoryview(batch)))
    assert (answer.error_code, answer.high_watermark, bytes(answer.records), took) == (
        ErrorCode.none, 0, b"", 5)
    script.close()


async def test_delete_records_waits_for_the_followers_log_start(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """DeleteRecords answers once the in-sync follower reports the new log start
    offset, with the low watermark."""
    script = Script(tmp_path)
    script.step(*topic())
    partition = leader(script)
    partition.append_as_leader(memoryview(build_batch([Record(None, b"x", timestamp=1)] * 3)))
    partition.update_follower_fetch_state(FOLLOWER, 3, now_ms=1, log_start_offset=0)
    assert partition.high_watermark == 3

    async def delete() -> Any:
        request = SimpleNamespace(timeout=timedelta(seconds=5), topics=[SimpleNamespace(
            name="t", partitions=[SimpleNamespace(partition_index=0, offset=2)])])
        deferred = await delete_records.handle(broker_of(script), CTX,
                                               RequestHeader(21, 2, 1, None), request)
        assert isinstance(deferred, Deferred)
        return (await deferred.wait()).topics[0].partitions[0]

    answer, took = await run_with(
        script, delete,
        lambda: partition.update_follower_fetch_state(FOLLOWER, 3, now_ms=2,
                                                      log_start_offset=2))
    assert (answer.error_code, answer.low_watermark, took) == (ErrorCode.none, 2, 1)
    script.close()


async def _produce_idempotent(script: Script, base_sequence: int, acks: int = -1) -> Any:
    """One Produce v9 of an idempotent batch of 3 records (producer 7, epoch 0)."""
    records = build_batch([Record(None, b"v%d" % i, timestamp=1) for i in range(3)],
                          producer_id=7, producer_epoch=0, base_sequence=base_sequence)
    request = SimpleNamespace(
        acks=acks, transactional_id=None, timeout=timedelta(seconds=5),
        topic_data=[SimpleNamespace(name="t", partition_data=[
            SimpleNamespace(index=0, records=records)])])
    answer = await produce.handle(broker_of(script), CTX, RequestHeader(0, 9, 1, None), request)
    if isinstance(answer, Deferred):
        answer = await answer.wait()
    return answer.responses[0].partition_responses[0]


async def test_a_batch_after_one_refused_for_the_isr_gets_the_same_refusal(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Pipelined batches of a producer, the first refused because the ISR is below
    min.insync.replicas: a later one that arrives once the ISR is back is refused
    the same way (NOT_ENOUGH_REPLICAS, retriable) rather than failing the sequence
    check, which librdkafka answers with an epoch bump and duplicates. A gap with
    no refusal behind it is still OUT_OF_ORDER_SEQUENCE_NUMBER, as in Kafka."""
    script = Script(tmp_path)
    script.step(*topic(), ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t",
                                       name="min.insync.replicas", value="2"))
    assert (await _produce_idempotent(script, 0, acks=1)).error_code == ErrorCode.none
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, isr=[NODE]))
    assert (await _produce_idempotent(script, 3)).error_code == ErrorCode.not_enough_replicas
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, isr=[NODE, FOLLOWER]))
    assert (await _produce_idempotent(script, 6)).error_code == ErrorCode.not_enough_replicas
    assert leader(script).log_end_offset == 3
    assert (await _produce_idempotent(script, 3, acks=1)).error_code == ErrorCode.none
    assert (await _produce_idempotent(script, 6, acks=1)).error_code == ErrorCode.none
    assert (await _produce_idempotent(script, 12, acks=1)).error_code == \
        ErrorCode.out_of_order_sequence_number
    script.close()


async def test_a_batch_after_one_refused_as_follower_gets_the_same_refusal(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Pipelined batches of a producer reach a broker just before it replays the
    record that makes it leader: the first is refused with NOT_LEADER_OR_FOLLOWER,
    and a later one that arrives once it leads is refused the same way rather than
    failing the sequence check (librdkafka's epoch bump); once the first is sent
    again both append in order."""
    script = Script(tmp_path)
    script.step(*topic())
    assert (await _produce_idempotent(script, 0, acks=1)).error_code == ErrorCode.none
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, leader=FOLLOWER))
    assert (await _produce_idempotent(script, 3, acks=1)).error_code == \
        ErrorCode.not_leader_or_follower
    script.step(PartitionChangeRecord(partition_id=0, topic_id=OLD, leader=NODE))
    assert (await _produce_idempotent(script, 6, acks=1)).error_code == \
        ErrorCode.not_leader_or_follower
    assert leader(script).log_end_offset == 3
    assert (await _produce_idempotent(script, 3, acks=1)).error_code == ErrorCode.none
    assert (await _produce_idempotent(script, 6, acks=1)).error_code == ErrorCode.none
    assert leader(script).log_end_offset == 9
    script.close()
