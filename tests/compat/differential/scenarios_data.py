"""Scenarios of the data path: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch,
DeleteRecords, InitProducerId, DescribeProducers."""

from __future__ import annotations

import time
import uuid
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.log.batch import CRC_OFFSET
from tests.compat.differential.engine import (
    BASE_TIME,
    ZERO,
    Ctx,
    SetupFailed,
    records,
    scenario,
)

PRODUCE, FETCH, LIST_OFFSETS, DELETE_RECORDS, INIT_PRODUCER_ID = 0, 1, 2, 21, 22
OFFSET_FOR_LEADER_EPOCH, DESCRIBE_PRODUCERS = 23, 61
UNKNOWN_ID = uuid.UUID("6ba7b810-9dad-41d1-80b4-00c04fd430c8")  # a topic id no broker has


# ---------------------------------------------------------------- Produce


def topic_with(count: int = 0, partitions: int = 1, **configs: str) -> Any:
    """A setup creating the scenario's topic (configs with '_' for '.') and producing
    `count` records (in batches of at most 3) to partition 0."""
    def setup(ctx: Ctx) -> None:
        ctx.state["topic_id"] = ctx.create_topic(
            ctx.name, partitions, {k.replace("_", "."): v for k, v in configs.items()})
        for start in range(0, count, 3):
            ctx.produce(ctx.name, min(3, count - start), start=start)
    return setup


def produce_body(data: bytes | None = None, acks: int = -1, partition: int = 0,
                 topic: str | None = None, topic_id: uuid.UUID | None = None,
                 **batch: Any) -> Any:
    """A Produce body for the scenario's topic (or `topic`/`topic_id`) with `data`
    (default: 3 fresh records)."""
    def body(ctx: Ctx) -> dict[str, Any]:
        name = topic if topic is not None else ctx.name
        tid = topic_id if topic_id is not None else ctx.state.get("topic_id", UNKNOWN_ID)
        return {"transactional_id": None, "acks": acks, "timeout": 30_000,
                "topic_data": [{"name": name, "topic_id": tid, "partition_data": [
                    {"index": partition,
                     "records": data if data is not None else records(3, **batch)}]}]}
    return body


def corrupt(data: bytes) -> bytes:
    out = bytearray(data)
    out[CRC_OFFSET] ^= 0xFF
    return bytes(out)


def with_base_offset(data: bytes, base: int) -> bytes:
    return base.to_bytes(8, "big") + data[8:]


scenario("produce/acks-all", PRODUCE, produce_body(), setup=topic_with())
scenario("produce/acks-1", PRODUCE, produce_body(acks=1), setup=topic_with())
scenario("produce/acks-2-invalid", PRODUCE, produce_body(acks=2), setup=topic_with())
scenario("produce/unknown-topic", PRODUCE,
         produce_body(topic="vs-no-such-topic", topic_id=UNKNOWN_ID))
scenario("produce/illegal-topic-name", PRODUCE,
         produce_body(topic="bad name!", topic_id=UNKNOWN_ID))
scenario("produce/unknown-partition", PRODUCE, produce_body(partition=7), setup=topic_with())
scenario("produce/corrupt-crc", PRODUCE, produce_body(corrupt(records(3))), setup=topic_with())
scenario("produce/null-records", PRODUCE, produce_body(b""), setup=topic_with(),
         note="records of zero bytes")
scenario("produce/two-batches", PRODUCE, produce_body(records(2) + records(2, 2)),
         setup=topic_with())
scenario("produce/nonzero-base-offset", PRODUCE,
         produce_body(with_base_offset(records(2), 5)), setup=topic_with())
scenario("produce/record-too-large", PRODUCE,
         produce_body(records(1) + b"", acks=-1), setup=topic_with(max_message_bytes="60"),
         note="max.message.bytes=60; a batch of one record is 80 bytes")
scenario("produce/log-append-time", PRODUCE, produce_body(),
         setup=topic_with(message_timestamp_type="LogAppendTime"))
scenario("produce/timestamp-too-old", PRODUCE, produce_body(),
         setup=topic_with(message_timestamp_before_max_ms="86400000"),
         note="records stamped 2020 to a topic accepting one day back")
scenario("produce/compacted-null-key", PRODUCE,
         lambda ctx: produce_body(null_key_batch())(ctx),
         setup=topic_with(cleanup_policy="compact"))


def null_key_batch() -> bytes:
    from kraft.log.records import Record, build_batch
    return build_batch([Record(key=None, value=b"v", timestamp=BASE_TIME)])


def idempotent_setup(ctx: Ctx) -> None:
    topic_with()(ctx)
    ctx.state["pid"], ctx.state["epoch"] = ctx.init_producer_id()
    ctx.state["seq"] = 0


def idempotent_body(gap: int = 0, repeat: bool = False, epoch_delta: int = 0) -> Any:
    """An idempotent batch of 2 records: the next sequence (+ `gap`), or the previous
    batch again (`repeat`: a retry the broker must recognise), with the epoch moved."""
    def body(ctx: Ctx) -> dict[str, Any]:
        seq = ctx.state["seq"]
        batch = {"producer_id": ctx.state["pid"],
                 "producer_epoch": ctx.state["epoch"] + epoch_delta}
        if repeat:
            data = records(2, base_sequence=seq, **batch)
            ctx.call(PRODUCE, 9, produce_body(data)(ctx))  # the first send, then the retry
            ctx.state["seq"] = seq + 2
        else:
            data = records(2, base_sequence=seq + gap, **batch)
        return produce_body(data)(ctx)
    return body


scenario("produce/idempotent-duplicate", PRODUCE, idempotent_body(repeat=True),
         setup=idempotent_setup, note="the same idempotent batch sent twice")
scenario("produce/idempotent-sequence-gap", PRODUCE, idempotent_body(gap=5),
         setup=idempotent_setup)
scenario("produce/idempotent-future-epoch", PRODUCE, idempotent_body(epoch_delta=3),
         setup=idempotent_setup)
scenario("produce/transactional-batch-without-transaction", PRODUCE,
         lambda ctx: produce_body(records(1, producer_id=ctx.state["pid"],
                                          producer_epoch=ctx.state["epoch"], base_sequence=0,
                                          is_transactional=True))(ctx),
         setup=idempotent_setup)


# ---------------------------------------------------------------- Fetch


def fetch_body(offset: int = 0, partition: int = 0, topic: str | None = None,
               topic_id: uuid.UUID | None = None, max_bytes: int = 1 << 20,
               partition_max_bytes: int = 1 << 20, current_leader_epoch: int = -1,
               last_fetched_epoch: int = -1, isolation_level: int = 0, replica_id: int = -1,
               session_id: int = 0, session_epoch: int = -1) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {
            "cluster_id": None, "replica_id": replica_id,
            "replica_state": {"replica_id": replica_id, "replica_epoch": -1},
            "max_wait": 0, "min_bytes": 0, "max_bytes": max_bytes,
            "isolation_level": isolation_level, "session_id": session_id,
            "session_epoch": session_epoch,
            "topics": [{"topic": topic if topic is not None else ctx.name,
                        "topic_id": topic_id if topic_id is not None
                        else ctx.state.get("topic_id", UNKNOWN_ID),
                        "partitions": [{
                            "partition": partition, "current_leader_epoch": current_leader_epoch,
                            "fetch_offset": offset, "last_fetched_epoch": last_fetched_epoch,
                            "log_start_offset": -1, "partition_max_bytes": partition_max_bytes,
                            "replica_directory_id": ZERO}]}],
            "forgotten_topics_data": [], "rack_id": ""}
    return body


scenario("fetch/from-start", FETCH, fetch_body(0), setup=topic_with(5))
scenario("fetch/inside-a-batch", FETCH, fetch_body(4), setup=topic_with(5),
         note="offset 4 lies in the second batch (offsets 3-4)")
scenario("fetch/at-high-watermark", FETCH, fetch_body(5), setup=topic_with(5))
scenario("fetch/offset-out-of-range", FETCH, fetch_body(1000), setup=topic_with(5))
scenario("fetch/negative-offset", FETCH, fetch_body(-5), setup=topic_with(5))
scenario("fetch/unknown-topic", FETCH,
         fetch_body(topic="vs-no-such-topic", topic_id=UNKNOWN_ID))
scenario("fetch/unknown-partition", FETCH, fetch_body(partition=3), setup=topic_with(5))
scenario("fetch/partition-max-bytes-10", FETCH, fetch_body(partition_max_bytes=10),
         setup=topic_with(5), note="KIP-74: the first batch is returned whole")
scenario("fetch/max-bytes-0", FETCH, fetch_body(max_bytes=0), setup=topic_with(5))
scenario("fetch/future-leader-epoch", FETCH, fetch_body(current_leader_epoch=5),
         setup=topic_with(5))
scenario("fetch/diverging-last-fetched-epoch", FETCH,
         fetch_body(offset=5, last_fetched_epoch=3), setup=topic_with(5),
         note="a consumer claims epoch 3 ended at offset 5; the log has epoch 0 only")
scenario("fetch/read-committed", FETCH, fetch_body(isolation_level=1), setup=topic_with(5))
scenario("fetch/as-replica-2", FETCH, fetch_body(replica_id=2), setup=topic_with(5),
         note="a follower fetch from a broker id that is no replica")
scenario("fetch/session-create", FETCH, fetch_body(session_epoch=0), setup=topic_with(5))
scenario("fetch/unknown-session", FETCH, fetch_body(session_id=12345, session_epoch=1),
         setup=topic_with(5))


def incremental_fetch(epoch: int) -> Any:
    """Open a fetch session (preparatory), then fetch in it with `epoch`."""
    def body(ctx: Ctx) -> dict[str, Any]:
        first = ctx.call(FETCH, ctx.version, fetch_body(session_epoch=0)(ctx))
        return fetch_body(offset=5, session_id=first.session_id, session_epoch=epoch)(ctx)
    return body


scenario("fetch/session-incremental", FETCH, incremental_fetch(1), setup=topic_with(5),
         versions=range(7, 18))
scenario("fetch/session-wrong-epoch", FETCH, incremental_fetch(5), setup=topic_with(5),
         versions=range(7, 18))


# ---------------------------------------------------------------- ListOffsets


def list_offsets_body(timestamp: int, partition: int = 0, topic: str | None = None,
                      current_leader_epoch: int = -1, isolation_level: int = 0,
                      replica_id: int = -1) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"replica_id": replica_id, "isolation_level": isolation_level, "timeout": 1000,
                "topics": [{"name": topic if topic is not None else ctx.name, "partitions": [
                    {"partition_index": partition, "current_leader_epoch": current_leader_epoch,
                     "timestamp": timestamp}]}]}
    return body


for label, ts in (("latest", -1), ("earliest", -2), ("max-timestamp", -3),
                  ("earliest-local", -4), ("earliest-pending-upload", -5),
                  ("latest-tiered", -6), ("unknown-negative-spec", -7),
                  ("by-timestamp", BASE_TIME + 2), ("after-last-timestamp", BASE_TIME + 999)):
    scenario(f"list-offsets/{label}", LIST_OFFSETS, list_offsets_body(ts), setup=topic_with(5))
scenario("list-offsets/unknown-topic", LIST_OFFSETS,
         list_offsets_body(-1, topic="vs-no-such-topic"))
scenario("list-offsets/unknown-partition", LIST_OFFSETS, list_offsets_body(-1, partition=4),
         setup=topic_with(5))
scenario("list-offsets/future-leader-epoch", LIST_OFFSETS,
         list_offsets_body(-1, current_leader_epoch=7), setup=topic_with(5))
scenario("list-offsets/read-committed", LIST_OFFSETS, list_offsets_body(-1, isolation_level=1),
         setup=topic_with(5))
scenario("list-offsets/as-replica-2", LIST_OFFSETS, list_offsets_body(-1, replica_id=2),
         setup=topic_with(5))
scenario("list-offsets/empty-topic", LIST_OFFSETS, list_offsets_body(-3), setup=topic_with(0))


# ---------------------------------------------------------------- OffsetForLeaderEpoch


def ofle_body(leader_epoch: int, current_leader_epoch: int = -1, topic: str | None = None,
              partition: int = 0, replica_id: int = -1) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"replica_id": replica_id, "topics": [
            {"topic": topic if topic is not None else ctx.name, "partitions": [
                {"partition": partition, "current_leader_epoch": current_leader_epoch,
                 "leader_epoch": leader_epoch}]}]}
    return body


scenario("offset-for-leader-epoch/epoch-0", OFFSET_FOR_LEADER_EPOCH, ofle_body(0),
         setup=topic_with(5))
scenario("offset-for-leader-epoch/future-epoch", OFFSET_FOR_LEADER_EPOCH, ofle_body(4),
         setup=topic_with(5))
scenario("offset-for-leader-epoch/fenced-current-epoch", OFFSET_FOR_LEADER_EPOCH,
         ofle_body(0, current_leader_epoch=6), setup=topic_with(5))
scenario("offset-for-leader-epoch/unknown-topic", OFFSET_FOR_LEADER_EPOCH,
         ofle_body(0, topic="vs-no-such-topic"))
scenario("offset-for-leader-epoch/unknown-partition", OFFSET_FOR_LEADER_EPOCH,
         ofle_body(0, partition=2), setup=topic_with(5))
scenario("offset-for-leader-epoch/as-replica-2", OFFSET_FOR_LEADER_EPOCH,
         ofle_body(0, replica_id=2), setup=topic_with(5))


# ---------------------------------------------------------------- DeleteRecords


def delete_records_body(offset: Any, topic: str | None = None, partition: int = 0) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        value = offset(ctx) if callable(offset) else offset
        return {"timeout": 30_000, "topics": [
            {"name": topic if topic is not None else ctx.name,
             "partitions": [{"partition_index": partition, "offset": value}]}]}
    return body


scenario("delete-records/advance", DELETE_RECORDS,
         delete_records_body(lambda ctx: ctx.version + 1), setup=topic_with(9))
scenario("delete-records/to-high-watermark", DELETE_RECORDS, delete_records_body(-1),
         setup=topic_with(9))
scenario("delete-records/beyond-high-watermark", DELETE_RECORDS, delete_records_body(50),
         setup=topic_with(9))
scenario("delete-records/negative", DELETE_RECORDS, delete_records_body(-7),
         setup=topic_with(9))
scenario("delete-records/unknown-topic", DELETE_RECORDS,
         delete_records_body(1, topic="vs-no-such-topic"))
scenario("delete-records/unknown-partition", DELETE_RECORDS,
         delete_records_body(1, partition=3), setup=topic_with(9))


# ---------------------------------------------------------------- InitProducerId


def init_pid_body(transactional_id: str | None = None, timeout_ms: int = 60_000,
                  bump: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        pid, epoch = -1, -1
        if bump:
            pid, epoch = ctx.init_producer_id()
        return {"transactional_id": transactional_id, "transaction_timeout": timeout_ms,
                "producer_id": pid, "producer_epoch": epoch, "enable2_pc": False,
                "keep_prepared_txn": False}
    return body


scenario("init-producer-id/idempotent", INIT_PRODUCER_ID, init_pid_body(),
         setup=lambda ctx: ctx.init_producer_id(), note="after one that succeeded")
scenario("init-producer-id/idempotent-bump", INIT_PRODUCER_ID, init_pid_body(bump=True),
         versions=range(3, 6), note="an idempotent producer passes its id and epoch")
scenario("init-producer-id/transactional", INIT_PRODUCER_ID,
         init_pid_body(transactional_id="vs-txn"), timeout=40.0)
scenario("init-producer-id/transaction-timeout-too-large", INIT_PRODUCER_ID,
         init_pid_body(transactional_id="vs-txn-timeout", timeout_ms=3_600_000), timeout=40.0)


# ---------------------------------------------------------------- EndTxn v5 (KIP-890 part 2)

END_TXN = 26
TXN_RULES = ("any:producer_id",)  # ids are each broker's own


def tv2_transaction_setup(ctx: Ctx, *, complete: bool = False) -> None:
    """A transactional producer (one id per version) whose Produce v12 added the
    topic's partition (transaction version 2); `complete`: then committed, with
    DescribeTransactions polled until CompleteCommit."""
    if "topic_id" not in ctx.state:
        ctx.state["topic_id"] = ctx.create_topic(ctx.name)
    tid = f"{ctx.name}-v{ctx.version}"

    def find() -> tuple[ErrorCode, Any]:
        response = ctx.call(10, 4, {"key_type": 1, "coordinator_keys": [tid]})
        return response.coordinators[0].error_code, response

    ctx.retry("FindCoordinator", find)

    def init() -> tuple[ErrorCode, Any]:
        response = ctx.call(INIT_PRODUCER_ID, 4, init_pid_body(transactional_id=tid)(ctx))
        return response.error_code, response

    answer = ctx.retry("InitProducerId", init)
    pid, epoch = answer.producer_id, answer.producer_epoch
    ctx.state.update(tid=tid, pid=pid, epoch=epoch)
    body = produce_body(records(2, producer_id=pid, producer_epoch=epoch, base_sequence=0,
                                is_transactional=True))(ctx)
    body["transactional_id"] = tid
    deadline = time.monotonic() + 30
    while True:  # NOT_ENOUGH_REPLICAS while the coordinator is busy: clients retry
        code = ctx.call(PRODUCE, 12, body).responses[0].partition_responses[0].error_code
        if code == ErrorCode.none:
            break
        if time.monotonic() > deadline:
            raise SetupFailed(f"transactional produce: {code.name}")
        time.sleep(0.1)
    if complete:
        ctx.call(END_TXN, 5, end_txn_body(0)(ctx))
        while True:
            state = ctx.call(65, 0, {"transactional_ids": [tid]}).transaction_states[0]
            if state.transaction_state == "CompleteCommit":
                break
            if time.monotonic() > deadline:
                raise SetupFailed(f"transaction state {state.transaction_state}")
            time.sleep(0.05)


def end_txn_body(epoch_offset: int, commit: bool = True) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"transactional_id": ctx.state["tid"], "producer_id": ctx.state["pid"],
                "producer_epoch": ctx.state["epoch"] + epoch_offset, "committed": commit}
    return body


scenario("end-txn/v2-commit", END_TXN, end_txn_body(0), versions=[5], rules=TXN_RULES,
         setup=tv2_transaction_setup, timeout=40.0,
         note="Produce v12 added the partition; the answer carries the bumped epoch")
scenario("end-txn/v2-retry-after-commit", END_TXN, end_txn_body(0), versions=[5],
         rules=TXN_RULES, setup=lambda ctx: tv2_transaction_setup(ctx, complete=True),
         timeout=40.0, note="the same EndTxn again once the commit is complete")
scenario("end-txn/v2-other-epoch", END_TXN, end_txn_body(5), versions=[5], rules=TXN_RULES,
         setup=tv2_transaction_setup, timeout=40.0, note="an epoch the transaction never had")


# ---------------------------------------------------------------- DescribeProducers


def describe_producers_body(topic: str | None = None, partitions: tuple[int, ...] = (0,)) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"topics": [{"name": topic if topic is not None else ctx.name,
                            "partition_indexes": list(partitions)}]}
    return body


def idempotent_records_setup(ctx: Ctx) -> None:
    idempotent_setup(ctx)
    ctx.call(PRODUCE, 9, produce_body(records(
        2, producer_id=ctx.state["pid"], producer_epoch=ctx.state["epoch"],
        base_sequence=0))(ctx))


scenario("describe-producers/after-idempotent-produce", DESCRIBE_PRODUCERS,
         describe_producers_body(), setup=idempotent_records_setup)
scenario("describe-producers/unknown-topic", DESCRIBE_PRODUCERS,
         describe_producers_body(topic="vs-no-such-topic"))
scenario("describe-producers/unknown-partition", DESCRIBE_PRODUCERS,
         describe_producers_body(partitions=(0, 5)), setup=topic_with(1))
