"""Consumer groups with real clients: rebalances, exactly-once-per-message
consumption with manual commits, resuming at committed offsets across consumer
and broker restarts, the admin APIs, and coordinator failover.

Theory of operation: each group member is a `Member` thread running one real
consumer (librdkafka through confluent-kafka, or kafka-python) with its
client's default assignors. It consumes in batches, records every (partition,
offset) it processed in a shared `Ledger`, and commits synchronously after
each batch, before it asks for more; rebalances happen only inside the
consumer's poll, so everything a member processed is committed before its
partitions can move. The ledger then proves every produced message was
consumed exactly once. Members publish their current assignment; tests wait
for the split they expect (`wait_until`: a liveness bound, never a
performance assertion).

Dev mode runs with group.initial.rebalance.delay.ms=0 and the members with a
500 ms heartbeat interval so rebalances take a second, not several.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import confluent_kafka
import kafka
import kafka.errors
import pytest
import trio
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as KafkaTopicPartition
from kio.schema.describe_groups.v0 import request as describe_v0
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v2.request import FindCoordinatorRequest
from kio.schema.heartbeat.v0.request import HeartbeatRequest as HeartbeatV0
from kio.schema.join_group.v0 import request as join_v0
from kio.schema.leave_group.v0.request import LeaveGroupRequest as LeaveGroupV0
from kio.schema.list_groups.v4.request import ListGroupsRequest as ListGroupsV4
from kio.schema.offset_commit.v2 import request as commit_v2
from kio.schema.offset_delete.v0 import request as delete_v0
from kio.schema.offset_fetch.v1 import request as fetch_v1
from kio.schema.sync_group.v0 import request as sync_v0

from kraft.tools.local_cluster import LocalCluster
from tests.integration.helpers import wait_until
from tests.integration.protocol import connect
from tests.integration.protocol import create_topic as create_topic_raw

CLIENTS = ["confluent", "kafka-python"]
DEV_OVERRIDES = ("group.initial.rebalance.delay.ms=0",)
HEARTBEAT_MS = 500
SESSION_MS = 6000
Position = tuple[int, int]  # (partition, offset)


# --- producing and topics ----------------------------------------------------------------


def create_topic(bootstrap: str, name: str, partitions: int, replication: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, replication)]).values():
        future.result(30)


def produce(bootstrap: str, topic: str, count: int, partitions: int, start: int = 0) -> None:
    """`count` messages numbered from `start`, round-robin over the partitions."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[Any] = []
    for i in range(start, start + count):
        producer.produce(topic, str(i).encode(), partition=i % partitions,
                         on_delivery=lambda err, _msg: err and failures.append(err))
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0 and not failures, failures


# --- group members ------------------------------------------------------------------------


class Ledger:
    """Every (partition, offset) any member processed, and who processed it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[Position, str] = {}
        self.duplicates: list[tuple[Position, str, str]] = []

    def record(self, member: str, positions: Iterable[Position]) -> None:
        with self.lock:
            for position in positions:
                first = self.seen.setdefault(position, member)
                if first is not member:
                    self.duplicates.append((position, first, member))

    def __len__(self) -> int:
        with self.lock:
            return len(self.seen)


class Member(threading.Thread):
    """One consumer of a group in its own thread: consume, record, commit, repeat."""

    def __init__(self, kind: str, bootstrap: str, group: str, topic: str, ledger: Ledger,
                 name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.kind, self.bootstrap, self.group, self.topic = kind, bootstrap, group, topic
        self.ledger = ledger
        self.assignment: frozenset[int] = frozenset()
        self.commit_errors: list[str] = []
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            (self._run_confluent if self.kind == "confluent" else self._run_kafka_python)()
        except BaseException as e:  # surfaced by stop()
            self.error = e

    def _run_confluent(self) -> None:
        consumer = confluent_kafka.Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": self.group,
            "client.id": self.name, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "heartbeat.interval.ms": HEARTBEAT_MS,
            "session.timeout.ms": SESSION_MS,
        })
        consumer.subscribe([self.topic])
        try:
            while not self._stopping.is_set():
                batch = [m for m in consumer.consume(500, 0.2) if m.error() is None]
                self.assignment = frozenset(tp.partition for tp in consumer.assignment())
                if not batch:
                    continue
                self.ledger.record(self.name, ((m.partition(), m.offset()) for m in batch))
                try:
                    consumer.commit(asynchronous=False)
                except confluent_kafka.KafkaException as e:
                    self.commit_errors.append(str(e))
        finally:
            consumer.close()

    def _run_kafka_python(self) -> None:
        consumer = kafka.KafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
            client_id=self.name, auto_offset_reset="earliest", enable_auto_commit=False,
            heartbeat_interval_ms=HEARTBEAT_MS, session_timeout_ms=SESSION_MS,
            max_poll_records=500)
        try:
            # kafka-python (3.0.12) joins a group without waiting for its first metadata
            # of the topics it subscribed to by name (it waits only for patterns). Joined
            # first, a group leader assigns nothing ("No partition metadata for topic
            # ..."); the metadata arriving next triggers a rejoin, and when that rejoin's
            # SyncGroup answer comes after poll()'s timeout the member never applies it
            # nor heartbeats again: it consumes nothing until the coordinator expires it.
            # It happens against Apache Kafka 4.4 too (docs/compat.md, "Client behaviour
            # that is the same against Kafka"). Knowing the topic's partitions before the
            # first poll() makes the first join assign all of them.
            self._await_partitions(consumer)
            while not self._stopping.is_set():
                records = consumer.poll(timeout_ms=200)
                self.assignment = frozenset(tp.partition for tp in consumer.assignment())
                if not records:
                    continue
                self.ledger.record(self.name, ((r.partition, r.offset)
                                               for batch in records.values() for r in batch))
                try:
                    consumer.commit()
                except kafka.errors.KafkaError as e:
                    self.commit_errors.append(repr(e))
        finally:
            consumer.close()

    def _await_partitions(self, consumer: kafka.KafkaConsumer) -> None:
        """Until `consumer`'s metadata lists the topic's partitions (or stop())."""
        while not self._stopping.is_set():
            try:
                if consumer.partitions_for_topic(self.topic):
                    return
            except kafka.errors.KafkaError:
                pass  # a failed metadata request: ask again, as poll() would
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop consuming and close the consumer (it leaves the group)."""
        self._stopping.set()
        self.join(30)
        assert not self.is_alive(), f"{self.name} did not stop"
        if self.error is not None:
            raise self.error


def wait_for_split(members: list[Member], sizes: list[int], partitions: int) -> None:
    """Until the members' assignments are disjoint, cover every partition and have
    these sizes (in member order)."""
    def split() -> bool:
        held = [m.assignment for m in members]
        return ([len(h) for h in held] == sizes and len(frozenset().union(*held)) == partitions)
    wait_until(split, f"assignment sizes {sizes} over {partitions} partitions", 60)


# --- tests --------------------------------------------------------------------------------


class BackgroundProducer(threading.Thread):
    """Produces `total` numbered messages round-robin in chunks, pausing between
    them, so production spans the rebalances of a test."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, total: int,
                 chunk: int, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.total, self.chunk, self.pause_s = total, chunk, pause_s
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for start in range(0, self.total, self.chunk):
                produce(self.bootstrap, self.topic, min(self.chunk, self.total - start),
                        self.partitions, start=start)
                time.sleep(self.pause_s)
        except BaseException as e:
            self.error = e

    def finish(self) -> None:
        self.join(120)
        assert not self.is_alive(), "the producer did not finish"
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("kind", CLIENTS)
def test_rebalances_split_partitions_and_every_message_is_consumed_once(
    kind: str, dev_factory: Callable[..., Any]
) -> None:
    """Two members split 6 partitions 3/3, a third makes it 2/2/2, one leaving makes
    it 3/3, while 60,000 messages are produced; every one is consumed, none twice."""
    node = dev_factory(*DEV_OVERRIDES)
    topic, partitions, total = "events", 6, 60_000
    create_topic(node.bootstrap, topic, partitions)
    producer = BackgroundProducer(node.bootstrap, topic, partitions, total, 1200, 0.2)
    producer.start()
    ledger = Ledger()
    a, b, c = (Member(kind, node.bootstrap, "workers", topic, ledger, f"{kind}-{n}")
               for n in "abc")
    a.start()
    b.start()
    wait_for_split([a, b], [3, 3], partitions)
    wait_until(lambda: len(ledger) >= 10_000, "10,000 messages consumed", 60)
    c.start()
    wait_for_split([a, b, c], [2, 2, 2], partitions)
    wait_until(lambda: len(ledger) >= 25_000, "25,000 messages consumed", 60)
    b.stop()
    wait_for_split([a, c], [3, 3], partitions)
    consumed_during_changes = len(ledger)
    producer.finish()
    wait_until(lambda: len(ledger) >= total, "all 60,000 messages consumed", 120)
    a.stop()
    c.stop()
    assert consumed_during_changes < total  # the rebalances happened mid-stream
    per_partition = total // partitions
    assert set(ledger.seen) == {(p, o) for p in range(partitions) for o in range(per_partition)}
    assert ledger.duplicates == [], (ledger.duplicates[:10], a.commit_errors, b.commit_errors,
                                     c.commit_errors)
    assert {a.name, b.name, c.name} <= set(ledger.seen.values())


class BlindAssignments(logging.Handler):
    """kafka-python's range assignor warnings about a subscribed topic whose partitions
    the group leader did not know (it then assigns none of them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "No partition metadata" in record.getMessage():
            self.messages.append(record.getMessage())


def _first_offsets(kind: str, bootstrap: str, group: str, topic: str, partitions: int,
                   ) -> dict[int, int]:
    """Join `group`, return the first offset consumed per partition, leave. The member's
    first join assigns it every partition (for kafka-python: Member's metadata first)."""
    ledger = Ledger()
    member = Member(kind, bootstrap, group, topic, ledger, f"{kind}-check")
    blind = BlindAssignments()
    assignor_log = logging.getLogger("kafka.coordinator.assignors.range")
    assignor_log.addHandler(blind)
    member.start()
    try:
        wait_until(lambda: {p for p, _ in list(ledger.seen)} == set(range(partitions)),
                   "a message from every partition", 60)
    finally:
        member.stop()
        assignor_log.removeHandler(blind)
    assert blind.messages == []
    first: dict[int, int] = {}
    for p, o in ledger.seen:
        first[p] = min(o, first.get(p, o))
    return first


def _commit_explicit(kind: str, bootstrap: str, group: str, topic: str,
                     offsets: dict[int, int]) -> None:
    """Commit `offsets` (partition -> offset, metadata "meta-<p>") as a member of `group`."""
    if kind == "confluent":
        consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                             "enable.auto.commit": False})
        consumer.commit(offsets=[confluent_kafka.TopicPartition(topic, p, o, metadata=f"meta-{p}")
                                 for p, o in offsets.items()], asynchronous=False)
        consumer.close()
    else:
        consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                       enable_auto_commit=False)
        consumer.commit({KafkaTopicPartition(topic, p): OffsetAndMetadata(o, f"meta-{p}", -1)
                         for p, o in offsets.items()})
        consumer.close()


def _committed(kind: str, bootstrap: str, group: str, topic: str,
               partitions: int) -> dict[int, tuple[int, str]]:
    if kind == "confluent":
        consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        tps = consumer.committed([confluent_kafka.TopicPartition(topic, p)
                                  for p in range(partitions)], timeout=30)
        consumer.close()
        return {tp.partition: (tp.offset, tp.metadata) for tp in tps}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)
    finally:
        admin.close()
    return {tp.partition: (om.offset, om.metadata) for tp, om in offsets[group].items()
            if tp.topic == topic}


@pytest.mark.parametrize("kind", CLIENTS)
def test_consumption_resumes_at_committed_offsets_across_restarts(
    kind: str, dev_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Offsets committed (with metadata) are where a restarted group resumes, and
    still after dev mode itself restarts on the same --data-dir."""
    node = dev_factory(*DEV_OVERRIDES, data_dir=tmp_path / "data")
    topic, partitions = "resume", 3
    create_topic(node.bootstrap, topic, partitions)
    produce(node.bootstrap, topic, 300, partitions)
    committed = {0: 37, 1: 0, 2: 99}
    _commit_explicit(kind, node.bootstrap, "resumers", topic, committed)
    expected = {p: (o, f"meta-{p}") for p, o in committed.items()}
    assert _committed(kind, node.bootstrap, "resumers", topic, partitions) == expected
    assert _first_offsets(kind, node.bootstrap, "resumers", topic, partitions) == committed
    # The check consumer committed as it went: start over from the known offsets.
    _commit_explicit(kind, node.bootstrap, "resumers", topic, committed)
    assert node.stop() == 0
    node.start()
    assert _committed(kind, node.bootstrap, "resumers", topic, partitions) == expected
    assert _first_offsets(kind, node.bootstrap, "resumers", topic, partitions) == committed


@pytest.mark.parametrize("kind", CLIENTS)
def test_admin_lists_describes_and_deletes_groups(
    kind: str, dev_factory: Callable[..., Any]
) -> None:
    """Each client's admin API lists a live group, describes its member and
    assignment, cannot delete it while it has members, and deletes it once empty."""
    node = dev_factory(*DEV_OVERRIDES)
    create_topic(node.bootstrap, "admin-topic", 2)
    produce(node.bootstrap, "admin-topic", 10, 2)
    ledger = Ledger()
    member = Member(kind, node.bootstrap, "watched", "admin-topic", ledger, f"{kind}-watched")
    member.start()
    try:
        wait_for_split([member], [2], 2)
        wait_until(lambda: len(ledger) == 10, "the messages consumed", 30)
        admin = (ConfluentGroups if kind == "confluent" else KafkaPythonGroups)(node.bootstrap)
        try:
            assert admin.list() == {"watched": "Stable"}
            state, members = admin.describe("watched")
            assert state == "Stable"
            assert members == [(f"{kind}-watched", {("admin-topic", 0), ("admin-topic", 1)})]
            assert admin.delete("watched") == "NON_EMPTY_GROUP"
            member.stop()
            wait_until(lambda: admin.list() == {"watched": "Empty"}, "the group empty", 30)
            assert admin.delete("watched") is None
            assert admin.list() == {}
            assert admin.delete("watched") == "GROUP_ID_NOT_FOUND"
        finally:
            admin.close()
    finally:
        if member.is_alive():
            member.stop()


class ConfluentGroups:
    """The group calls of confluent-kafka's AdminClient, answers as plain values."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def list(self) -> dict[str, str]:
        result = self.admin.list_consumer_groups(request_timeout=30).result()
        return {g.group_id: g.state.name.title().replace("_", "")
                for g in result.valid}

    def describe(self, group: str) -> tuple[str, list[tuple[str, set[tuple[str, int]]]]]:
        d = self.admin.describe_consumer_groups([group])[group].result()
        members = [(m.client_id, {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions})
                   for m in d.members]
        return d.state.name.title().replace("_", ""), members

    def delete(self, group: str) -> str | None:
        try:
            self.admin.delete_consumer_groups([group])[group].result()
        except confluent_kafka.KafkaException as e:
            return e.args[0].name()
        return None

    def close(self) -> None:
        pass


class KafkaPythonGroups:
    """The group calls of kafka-python's KafkaAdminClient, answers as plain values."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)

    def list(self) -> dict[str, str]:
        return {g["group_id"]: g["group_state"] for g in self.admin.list_groups()}

    def describe(self, group: str) -> tuple[str, list[tuple[str, set[tuple[str, int]]]]]:
        d = self.admin.describe_groups([group])[group]
        members = []
        for m in d["members"]:
            assignment = m["member_assignment"]
            held = {(t, p) for t, parts in _kafka_python_assignment(assignment) for p in parts}
            members.append((m["client_id"], held))
        return d["group_state"], members

    def delete(self, group: str) -> str | None:
        result = self.admin.delete_groups([group])[group]  # "OK" or an error class name
        if result == "OK":
            return None
        return ErrorCode(getattr(kafka.errors, result).errno).name.upper()

    def close(self) -> None:
        self.admin.close()


def _kafka_python_assignment(assignment: Any) -> list[tuple[str, list[int]]]:
    """(topic, partitions) pairs from kafka-python's decoded member assignment (a dict
    from DescribeGroups' to_dict(): {"assigned_partitions": [{"topic", "partitions"}]})."""
    return [(a["topic"], list(a["partitions"])) for a in assignment["assigned_partitions"]]


@pytest.mark.slow
def test_groups_survive_coordinator_failover(tmp_path: Path) -> None:
    """Three nodes: kill -9 the group's coordinator. Another broker takes over its
    `__consumer_offsets` partition: committed offsets (and metadata) are still
    served, a member consuming across the kill consumes every message exactly
    once, and a new member of another group resumes at that group's commits."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides={"group.initial.rebalance.delay.ms": "0"}) as cluster:
        cluster.start()
        topic, partitions, total = "failover", 3, 6_000
        create_topic(cluster.bootstrap, topic, partitions, replication=3)
        produce(cluster.bootstrap, topic, 300, partitions)
        committed = {0: 11, 1: 22, 2: 33}
        _commit_explicit("confluent", cluster.bootstrap, "survivors", topic, committed)
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        coordinator = admin.describe_consumer_groups(["survivors"])["survivors"].result(
            ).coordinator.id
        ledger = Ledger()
        live = Member("confluent", cluster.bootstrap, "live", topic, ledger, "live")
        live.start()
        wait_for_split([live], [3], partitions)
        producer = BackgroundProducer(cluster.bootstrap, topic, partitions, total - 300, 300, 0.2)
        producer.start()
        wait_until(lambda: len(ledger) >= 1000, "1,000 messages consumed", 60)
        cluster.kill(coordinator)
        expected = {p: (o, f"meta-{p}") for p, o in committed.items()}
        deadline = time.monotonic() + 60
        while True:  # a new leader must be elected and load the partition first
            try:
                if _committed("confluent", cluster.bootstrap, "survivors", topic,
                              partitions) == expected:
                    break
            except confluent_kafka.KafkaException:
                pass
            assert time.monotonic() < deadline, "offsets not served after failover"
            time.sleep(0.5)
        assert _first_offsets("confluent", cluster.bootstrap, "survivors", topic,
                              partitions) == committed
        # A client made before the kill may still wait on the dead coordinator it
        # cached (librdkafka's coordinator cache): ask with a new one, as an operator
        # would, until the deadline.
        after = AdminClient({"bootstrap.servers": cluster.bootstrap})
        while True:
            try:
                new = after.describe_consumer_groups(["survivors"], request_timeout=10)[
                    "survivors"].result().coordinator.id
                break
            except confluent_kafka.KafkaException:
                assert time.monotonic() < deadline, "the group not described after failover"
                time.sleep(0.5)
        assert new != coordinator
        producer.finish()
        # A produce retried across the kill may have been written twice (the producer
        # is not idempotent): the log, not the count sent, says what must be consumed.
        ends = _high_watermarks(cluster.bootstrap, topic, partitions)
        assert sum(ends.values()) >= total
        wait_until(lambda: len(ledger) >= sum(ends.values()),
                   "every record consumed by the live member", 120)
        live.stop()
        assert ledger.duplicates == []
        assert set(ledger.seen) == {(p, o) for p, end in ends.items() for o in range(end)}
        final = _committed("confluent", cluster.bootstrap, "live", topic, partitions)
        assert {p: offset for p, (offset, _) in final.items()} == ends


def _high_watermarks(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "hwm"})
    try:
        return {p: consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                                  timeout=30)[1] for p in range(partitions)}
    finally:
        consumer.close()


async def test_group_apis_at_old_versions_and_edges(dev_factory: Callable[..., Any]) -> None:
    """Raw requests at old versions: JoinGroup v0 joins without KIP-394's member-id
    round trip; DescribeGroups says Dead for an unknown group; ListGroups v4 filters
    states case-insensitively; OffsetCommit v2 and OffsetDelete answer
    UNKNOWN_TOPIC_OR_PARTITION per unknown partition and keep the others; OffsetFetch
    v1 returns the commit; OffsetDelete refuses a subscribed topic; LeaveGroup v0
    reports the member error at the top level; a left member's heartbeat is
    UNKNOWN_MEMBER_ID."""
    node = dev_factory(*DEV_OVERRIDES)
    group, topic = "edges", "edge-topic"
    async with connect(node.bootstrap) as conn:
        await create_topic_raw(conn, topic, partitions=2)
        with trio.fail_after(30):
            while (await conn.request(FindCoordinatorRequest(key=group), 30)).error_code != (
                    ErrorCode.none):
                await trio.sleep(0.1)
        subscription = b"\x00\x00\x00\x00\x00\x01" + len(topic).to_bytes(2, "big") + (
            topic.encode() + b"\xff\xff\xff\xff")
        join = join_v0.JoinGroupRequest(
            group_id=group, session_timeout=timedelta(seconds=10), member_id="",
            protocol_type="consumer",
            protocols=(join_v0.JoinGroupRequestProtocol(name="range", metadata=subscription),))
        with trio.fail_after(30):
            while (joined := await conn.request(join, 30)).error_code == (
                    ErrorCode.coordinator_load_in_progress):
                await trio.sleep(0.1)
        assert (joined.error_code, joined.generation_id) == (ErrorCode.none, 1)
        member = joined.member_id
        assert member.startswith("kraft-tests-") and joined.leader == member
        synced = await conn.request(sync_v0.SyncGroupRequest(
            group_id=group, generation_id=1, member_id=member, assignments=(
                sync_v0.SyncGroupRequestAssignment(member_id=member, assignment=b"mine"),)), 30)
        assert (synced.error_code, synced.assignment) == (ErrorCode.none, b"mine")

        described = await conn.request(describe_v0.DescribeGroupsRequest(
            groups=(group, "no-such-group")), 30)
        (ours, unknown) = described.groups
        assert (ours.group_state, ours.protocol_data) == ("Stable", "range")
        assert ours.members[0].client_host == "/127.0.0.1"
        assert (unknown.error_code, unknown.group_state) == (ErrorCode.none, "Dead")
        for states, listed in ((("STABLE",), [group]), (("empty",), [])):
            response = await conn.request(ListGroupsV4(states_filter=states), 30)
            assert [g.group_id for g in response.groups] == listed

        commit = await conn.request(commit_v2.OffsetCommitRequest(
            group_id=group, generation_id_or_member_epoch=1, member_id=member,
            retention_time=timedelta(milliseconds=-1), topics=(
                commit_v2.OffsetCommitRequestTopic(name=topic, partitions=tuple(
                    commit_v2.OffsetCommitRequestPartition(
                        partition_index=p, committed_offset=5, committed_metadata="m")
                    for p in (0, 7))),
                commit_v2.OffsetCommitRequestTopic(name="no-such-topic", partitions=(
                    commit_v2.OffsetCommitRequestPartition(
                        partition_index=0, committed_offset=1, committed_metadata=None),)),
            )), 30)
        assert [[p.error_code for p in t.partitions] for t in commit.topics] == [
            [ErrorCode.none, ErrorCode.unknown_topic_or_partition],
            [ErrorCode.unknown_topic_or_partition]]
        fetched = await conn.request(fetch_v1.OffsetFetchRequest(group_id=group, topics=(
            fetch_v1.OffsetFetchRequestTopic(name=topic, partition_indexes=(0, 1)),)), 30)
        assert [(p.partition_index, p.committed_offset, p.metadata)
                for p in fetched.topics[0].partitions] == [(0, 5, "m"), (1, -1, "")]
        deleted = await conn.request(delete_v0.OffsetDeleteRequest(group_id=group, topics=(
            delete_v0.OffsetDeleteRequestTopic(name=topic, partitions=(
                delete_v0.OffsetDeleteRequestPartition(partition_index=0),)),
            delete_v0.OffsetDeleteRequestTopic(name="no-such-topic", partitions=(
                delete_v0.OffsetDeleteRequestPartition(partition_index=0),)))), 30)
        assert deleted.error_code == ErrorCode.none
        assert [[p.error_code for p in t.partitions] for t in deleted.topics] == [
            [ErrorCode.group_subscribed_to_topic], [ErrorCode.unknown_topic_or_partition]]

        left = await conn.request(LeaveGroupV0(group_id=group, member_id="stranger"), 30)
        assert left.error_code == ErrorCode.unknown_member_id
        left = await conn.request(LeaveGroupV0(group_id=group, member_id=member), 30)
        assert left.error_code == ErrorCode.none
        beat = await conn.request(HeartbeatV0(group_id=group, generation_id=1,
                                              member_id=member), 30)
        assert beat.error_code == ErrorCode.unknown_member_id
