"""`kraft reassign-partitions` (Kafka's kafka-reassign-partitions): its JSON and
refusals without a cluster, then on one three-node cluster: generate a plan, move
two partitions from one replica to three with every record still readable, a
reassignment held in flight (its new replica paused) listed, verified as in
progress, protected from a second --execute, and cancelled, and a move held back
by --throttle until the throttle is raised, its throttles cleared by --verify."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

from kraft.tools.admin_client import Partition, ToolError
from kraft.tools.local_cluster import LocalCluster
from kraft.tools.reassign_partitions import format_reassignment, parse_reassignment, propose
from tests.faults.schedules import quorum_leader
from tests.kraft.test_cli import kraft, one_line

T = 30.0


def plan(*parts: tuple[str, int, list[int]]) -> dict[str, object]:
    return {"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r} for t, p, r in parts]}


def test_reassignment_json_is_kafkas() -> None:
    """Plans print compact in topic-partition order with log_dirs "any"; a file
    without log_dirs reads the same."""
    targets = parse_reassignment(plan(("b", 1, [2, 1]), ("a", 0, [1])))
    assert format_reassignment(targets) == (
        '{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],'
        '"log_dirs":["any"]},{"topic":"b","partition":1,"replicas":[2,1],'
        '"log_dirs":["any","any"]}]}')
    assert parse_reassignment(json.loads(format_reassignment(targets))) == targets


@pytest.mark.parametrize(("data", "said"), [
    (plan(), "Partition reassignment list cannot be empty"),
    (plan(("a", 0, [])), "Partition replica list cannot be empty"),
    (plan(("a", 0, [1]), ("a", 0, [2])),
     "Partition reassignment contains duplicate topic partitions: a-0"),
    (plan(("a", 0, [1, 1, 2])),
     "Partition replica lists may not contain duplicate entries: a-0 contains multiple "
     "entries for 1"),
    ({"version": 1, "partitions": [{"topic": "a", "partition": 0, "replicas": [1, 2],
                                    "log_dirs": ["any"]}]},
     "Size of replicas list [1, 2] is different from size of log dirs list [any] for "
     "partition a-0"),
    ({"version": 2, "partitions": []}, "Not supported version field value 2"),
])
def test_bad_plans_are_refused_in_kafkas_words(data: object, said: str) -> None:
    """Each malformed plan is one ToolError with Kafka's message."""
    with pytest.raises(ToolError) as refused:
        parse_reassignment(data)
    assert str(refused.value) == said


def test_a_proposal_keeps_each_topics_replication_factor() -> None:
    """--generate's proposal places each partition's replicas on distinct brokers of
    the list, with the topic's present replication factor, leaders spread."""
    current = {Partition("t", p): [1, 2] for p in range(6)} | {Partition("u", 0): [3]}
    proposed = propose(current, [4, 5, 6], random.Random(7))
    assert proposed.keys() == current.keys()
    for tp, replicas in proposed.items():
        assert len(replicas) == len(current[tp]) == len(set(replicas))
        assert set(replicas) <= {4, 5, 6}
    assert {proposed[Partition("t", p)][0] for p in range(6)} == {4, 5, 6}
    with pytest.raises(ToolError, match=r"Replication factor: 2 larger than available "
                                        r"brokers: 1\."):
        propose(current, [4])


@pytest.mark.parametrize(("args", "said"), [
    (["--list", "--verify"], "Command must include exactly one action: --generate, "
                             "--execute, --verify, --cancel, or --list"),
    (["--execute", "--reassignment-json-file", "x.json", "--replica-alter-log-dirs-throttle",
      "1000"], "--replica-alter-log-dirs-throttle: moving replicas between log directories "
               "is not supported by kraft"),
    (["--execute"], 'Missing required argument "[reassignment-json-file]"'),
])
def test_usage_errors_are_one_line(args: list[str], said: str) -> None:
    """Usage errors are one line on stderr and exit 1, before any connection."""
    done = kraft("reassign-partitions", "--bootstrap-server", "127.0.0.1:1", *args)
    assert done.returncode == 1 and one_line(done.stderr) == said


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three nodes; a long session timeout, so a paused node stays registered."""
    with LocalCluster(tmp_path_factory.mktemp("reassign") / "cluster",
                      ports=LocalCluster.free_ports(),
                      overrides={"broker.session.timeout.ms": "60000"}) as local:
        local.start()
        yield local


def tool(cluster: LocalCluster, tmp_path: Path, *args: str,
         data: object = None) -> tuple[int, str, str]:
    extra = []
    if data is not None:
        path = tmp_path / f"plan-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(data))
        extra = ["--topics-to-move-json-file" if "topics" in data else  # type: ignore[operator]
                 "--reassignment-json-file", str(path)]
    done = kraft("reassign-partitions", "--bootstrap-server", cluster.bootstrap, *args, *extra)
    return done.returncode, done.stdout, done.stderr


def replicas(admin: AdminClient, topic: str) -> dict[int, list[int]]:
    found = admin.list_topics(topic, timeout=10).topics[topic]
    return {p: list(m.replicas) for p, m in found.partitions.items()}


@pytest.mark.slow
def test_generate_execute_verify_moves_partitions(cluster: LocalCluster,
                                                  tmp_path: Path) -> None:
    """A topic on single replicas is moved to three replicas per partition: the plan
    is generated over 1,2,3, executed, verified until completed, and every record
    written before is read back after."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("moving", 2, replica_assignment=[[1], [2]])])["moving"] \
        .result(T)
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap})
    for i in range(100):
        producer.produce("moving", b"%d" % i, partition=i % 2)
    assert producer.flush(T) == 0

    code, out, err = tool(cluster, tmp_path, "--generate", "--broker-list", "1,2,3",
                          data={"version": 1, "topics": [{"topic": "moving"}]})
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Current partition replica assignment"
    assert parse_reassignment(json.loads(lines[1])) == {
        Partition("moving", 0): [1], Partition("moving", 1): [2]}
    assert lines[3] == "Proposed partition reassignment configuration"
    assert {len(r) for r in parse_reassignment(json.loads(lines[4])).values()} == {1}

    target = plan(("moving", 0, [1, 2, 3]), ("moving", 1, [2, 3, 1]))
    code, out, err = tool(cluster, tmp_path, "--execute", data=target)
    assert code == 0, err
    assert out.splitlines()[-1] == ("Successfully started partition reassignments for "
                                    "moving-0,moving-1")
    assert "Save this to use as the --reassignment-json-file option during rollback" in out
    deadline = time.monotonic() + T
    while True:
        code, out, err = tool(cluster, tmp_path, "--verify", data=target)
        assert code == 0, err
        if out.splitlines()[1:3] == ["Reassignment of partition moving-0 is completed.",
                                    "Reassignment of partition moving-1 is completed."]:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.5)
    assert replicas(admin, "moving") == {0: [1, 2, 3], 1: [2, 3, 1]}
    consumer = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap,
                                         "group.id": "moved", "auto.offset.reset": "earliest"})
    consumer.subscribe(["moving"])
    seen: set[bytes] = set()
    try:
        while len(seen) < 100 and time.monotonic() < deadline + T:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                seen.add(message.value())
    finally:
        consumer.close()
    assert seen == {b"%d" % i for i in range(100)}


@pytest.mark.slow
def test_a_reassignment_in_flight_is_listed_guarded_and_cancelled(
        cluster: LocalCluster, tmp_path: Path) -> None:
    """With its new replica paused, a reassignment stays in flight: --list shows it
    adding that replica, --verify says in progress, a second --execute is refused
    without --additional, --cancel cancels it and the old replica set stays."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("stuck", 1, replica_assignment=[[1]])])["stuck"].result(T)
    paused = 3 if quorum_leader(cluster.controller_address(1)) != 3 else 2
    cluster.pause(paused)  # not the active controller: the change must still commit
    try:
        target = plan(("stuck", 0, [1, paused]))
        code, out, err = tool(cluster, tmp_path, "--execute", data=target)
        assert code == 0, err
        code, out, err = tool(cluster, tmp_path, "--list")
        assert (code, out) == (0, "Current partition reassignments:\n"
                                  f"stuck-0: replicas: 1,{paused}. adding: {paused}.\n"), err
        code, out, err = tool(cluster, tmp_path, "--verify", data=target)
        assert out == ("Status of partition reassignment:\n"
                       "Reassignment of partition stuck-0 is still in progress.\n"), err
        code, out, err = tool(cluster, tmp_path, "--execute", data=target)
        assert code == 1 and one_line(err).startswith("Cannot execute because there is an "
                                                      "existing partition assignment.")
        code, out, err = tool(cluster, tmp_path, "--cancel", data=target)
        assert (code, out) == (0, "Successfully cancelled partition reassignment for: "
                                  "stuck-0\n"), err
    finally:
        cluster.resume(paused)
    code, out, err = tool(cluster, tmp_path, "--list")
    assert (code, out) == (0, "No partition reassignments found.\n"), err
    assert replicas(admin, "stuck") == {0: [1]}
    code, out, err = tool(cluster, tmp_path, "--cancel", data=plan(("stuck", 0, [1, 3])))
    assert (code, out) == (0, "None of the specified partition reassignments are active.\n")
    code, out, err = tool(cluster, tmp_path, "--execute", data=plan(("stuck", 0, [1, 9])))
    assert code == 1 and one_line(err) == "Unknown broker id 9"


def _log_bytes(cluster: LocalCluster, node_id: int, partition: str) -> int:
    return sum(f.stat().st_size
               for f in (cluster.node_dir(node_id) / "data" / partition).glob("*.log"))


def _configs(admin: AdminClient, kind: ConfigResource.Type, name: str) -> dict[str, str]:
    resource = ConfigResource(kind, name)
    entries = admin.describe_configs([resource])[resource].result(T)
    return {k: e.value for k, e in entries.items()
            if "throttled" in k and e.source != ConfigSource.DEFAULT_CONFIG.value}


@pytest.mark.slow
def test_a_throttled_move_waits_for_its_quota(cluster: LocalCluster, tmp_path: Path) -> None:
    """--throttle 1 B/s sets Kafka's throttle configs on the topic and the brokers
    involved; the new replica then receives at most one fetch's worth (1 MiB) of the
    4 MiB partition while the quota's eleven one-second windows remember it, and the
    move stays in progress; resubmitted with --additional and a high throttle it
    completes, and --verify clears every throttle."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("throttled", 1, replica_assignment=[[1]])])["throttled"] \
        .result(T)
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap,
                                         "linger.ms": 20})
    for i in range(4096):
        producer.produce("throttled", b"x" * 1000, key=b"%d" % i)
    assert producer.flush(T) == 0
    target = plan(("throttled", 0, [1, 2]))
    code, out, err = tool(cluster, tmp_path, "--execute", "--throttle", "1", data=target)
    assert code == 0, err
    assert "The inter-broker throttle limit was set to 1 B/s" in out
    assert _configs(admin, ConfigResource.Type.TOPIC, "throttled") == {
        "leader.replication.throttled.replicas": "0:1",
        "follower.replication.throttled.replicas": "0:2"}
    assert _configs(admin, ConfigResource.Type.BROKER, "2") == {
        "leader.replication.throttled.rate": "1", "follower.replication.throttled.rate": "1"}
    time.sleep(2)  # several fetch rounds of the new replica (fetch backoff 1 s)
    leader_bytes = _log_bytes(cluster, 1, "throttled-0")
    assert leader_bytes > 4_000_000
    assert _log_bytes(cluster, 2, "throttled-0") <= 1_100_000  # one fetch: 1 MiB + a batch
    code, out, err = tool(cluster, tmp_path, "--verify", data=target)
    assert "Reassignment of partition throttled-0 is still in progress." in out, err
    assert "Clearing" not in out  # throttles stay while the move runs

    code, out, err = tool(cluster, tmp_path, "--execute", "--additional", "--throttle",
                          "1000000000", data=target)
    assert code == 0, err
    deadline = time.monotonic() + T
    while "is completed" not in (out := tool(cluster, tmp_path, "--verify", data=target)[1]):
        assert time.monotonic() < deadline, out
        time.sleep(0.5)
    assert out.splitlines()[-2:] == ["Clearing broker-level throttles on brokers 1,2,3",
                                     "Clearing topic-level throttles on topic throttled"]
    assert _configs(admin, ConfigResource.Type.TOPIC, "throttled") == {}
    assert _configs(admin, ConfigResource.Type.BROKER, "2") == {}
    assert _log_bytes(cluster, 2, "throttled-0") == leader_bytes


@pytest.mark.slow
def test_the_balancer_spreads_replicas_onto_an_empty_broker(tmp_path: Path) -> None:
    """With kraft.balancer.enable, six partitions of replication factor 2 placed on
    brokers 1 and 2 are spread until the three brokers hold four replicas each and
    every partition is back to full ISR; every record is still there."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides={"kraft.balancer.enable": "true",
                                 "kraft.balancer.interval.ms": "500"}) as local:
        local.start()
        admin = AdminClient({"bootstrap.servers": local.bootstrap})
        admin.create_topics([NewTopic("spread", 6, replica_assignment=[[1, 2], [2, 1]] * 3)]
                            )["spread"].result(T)
        producer = confluent_kafka.Producer({"bootstrap.servers": local.bootstrap})
        for i in range(600):
            producer.produce("spread", b"%d" % i, partition=i % 6)
        assert producer.flush(T) == 0
        deadline = time.monotonic() + 2 * T
        while True:
            parts = admin.list_topics("spread", timeout=10).topics["spread"].partitions
            counts = Counter(b for p in parts.values() for b in p.replicas)
            if (counts == {1: 4, 2: 4, 3: 4}
                    and all(sorted(p.isrs) == sorted(p.replicas) for p in parts.values())):
                break
            assert time.monotonic() < deadline, (counts, parts)
            time.sleep(0.5)
        consumer = confluent_kafka.Consumer({"bootstrap.servers": local.bootstrap,
                                             "group.id": "spread",
                                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["spread"])
        seen: set[bytes] = set()
        try:
            while len(seen) < 600 and time.monotonic() < deadline + T:
                message = consumer.poll(0.5)
                if message is not None and not message.error():
                    seen.add(message.value())
        finally:
            consumer.close()
        assert seen == {b"%d" % i for i in range(600)}
