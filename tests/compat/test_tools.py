"""Kafka's command-line tools, run through their main classes as bin/*.sh runs them,
against kraft. Each test parses what the tool printed and checks it against the
cluster (set up and read back with confluent-kafka, which needs no JVM)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import confluent_kafka
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.compat.conftest import Target, run_tool, unique, write
from tests.compat.kafka_dist import KafkaDist


def create_topic(bootstrap: str, topic: str, partitions: int = 1, replication: int = 1,
                 config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, replication, config=config or {})]
                        )[topic].result(30)


def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes, int | None]]) -> None:
    """(partition, value, timestamp ms or None) for each record, acks=all."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "linger.ms": 5})
    for partition, value, timestamp in records:
        producer.produce(topic, value=value, partition=partition, timestamp=timestamp or 0)
    assert producer.flush(30) == 0


def watermarks(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        consumer.close()


def describe_topic(kafka: KafkaDist, bootstrap: str, topic: str) -> dict:
    """kafka-topics --describe, parsed: the header's fields and one dict per partition."""
    out = run_tool(kafka, "kafka-topics", "--bootstrap-server", bootstrap, "--describe",
                   "--topic", topic).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    header = dict(re.findall(r"(\w+): ([^\t]*)", lines[0]))
    partitions = [dict(re.findall(r"(\w+): ([^\t]*)", line.strip())) for line in lines[1:]]
    return {"header": header, "partitions": partitions}


def test_topics_create_describe_alter_delete(kafka: KafkaDist, dev: Target) -> None:
    """kafka-topics creates a topic with a config, refuses a duplicate, describes it,
    adds partitions, lists and deletes it, each as Kafka prints it."""
    b = dev.bootstrap
    topic = unique("tool-topics")
    out = run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--create", "--topic", topic,
                   "--partitions", "2", "--replication-factor", "1",
                   "--config", "retention.ms=3600000").stdout
    assert out.strip() == f"Created topic {topic}."
    again = run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--create", "--topic", topic,
                     "--partitions", "2", expect_exit=1)
    assert f"Topic '{topic}' already exists." in again.stdout
    described = describe_topic(kafka, b, topic)
    assert described["header"]["PartitionCount"] == "2"
    assert described["header"]["ReplicationFactor"] == "1"
    assert described["header"]["Configs"].strip() == "retention.ms=3600000"
    assert [(p["Partition"], p["Leader"], p["Replicas"], p["Isr"])
            for p in described["partitions"]] == [("0", "1", "1", "1"), ("1", "1", "1", "1")]
    run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--alter", "--topic", topic,
             "--partitions", "4")
    assert describe_topic(kafka, b, topic)["header"]["PartitionCount"] == "4"
    listed = run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--list").stdout.split()
    assert topic in listed
    run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--delete", "--topic", topic)
    gone = run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--describe",
                    "--topic", topic, expect_exit=1)
    assert f"Topic '{topic}' does not exist as expected" in gone.stdout


def test_console_producer_and_consumer(kafka: KafkaDist, dev: Target) -> None:
    """Lines typed into kafka-console-producer (headers, key, value) come out of
    kafka-console-consumer in order, with their partition, offset, headers and key,
    and the consumer's group has committed past them."""
    b = dev.bootstrap
    topic, group = unique("tool-console"), unique("console-group")
    create_topic(b, topic)
    lines = [f"src:test,n:{i}\tkey-{i}:value {i} \u00e9" for i in range(5)]
    run_tool(kafka, "kafka-console-producer", "--bootstrap-server", b, "--topic", topic,
             "--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
             "--reader-property", "parse.headers=true", input="\n".join(lines) + "\n")
    result = run_tool(kafka, "kafka-console-consumer", "--bootstrap-server", b, "--topic", topic,
                      "--from-beginning", "--max-messages", "5", "--timeout-ms", "30000",
                      "--group", group,
                      "--formatter-property", "print.key=true",
                      "--formatter-property", "print.offset=true",
                      "--formatter-property", "print.partition=true",
                      "--formatter-property", "print.headers=true")
    assert result.stdout.splitlines() == [
        f"Partition:0\tOffset:{i}\tsrc:test,n:{i}\tkey-{i}\tvalue {i} \u00e9" for i in range(5)]
    assert "Processed a total of 5 messages" in result.stderr
    consumer = confluent_kafka.Consumer({"bootstrap.servers": b, "group.id": group})
    try:
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        consumer.close()
    assert committed[0].offset == 5


def group_rows(text: str) -> list[dict[str, str]]:
    """The rows of a kafka-consumer-groups table, as dicts keyed by the header."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    header_at = next(i for i, cols in enumerate(lines) if cols[0] == "GROUP")
    header = lines[header_at]
    return [dict(zip(header, cols, strict=False)) for cols in lines[header_at + 1:]]


def test_consumer_groups_describe_reset_delete(kafka: KafkaDist, dev: Target) -> None:
    """kafka-consumer-groups describes a group's offsets and lag, its state, resets
    offsets (dry run, to earliest, to an offset) and deletes the group."""
    b = dev.bootstrap
    topic, group = unique("tool-groups"), unique("tool-group")
    create_topic(b, topic, partitions=2)
    produce(b, topic, [(i % 2, b"v%d" % i, None) for i in range(10)])
    run_tool(kafka, "kafka-console-consumer", "--bootstrap-server", b, "--topic", topic,
             "--from-beginning", "--max-messages", "10", "--timeout-ms", "30000",
             "--group", group)
    groups = ["kafka-consumer-groups", "--bootstrap-server", b]
    assert group in run_tool(kafka, *groups, "--list").stdout.split()
    rows = group_rows(run_tool(kafka, *groups, "--describe", "--group", group).stdout)
    assert [(r["PARTITION"], r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"])
            for r in sorted(rows, key=lambda r: r["PARTITION"])] == [
        ("0", "5", "5", "0"), ("1", "5", "5", "0")]
    state = group_rows(run_tool(kafka, *groups, "--describe", "--group", group,
                                "--state").stdout)
    assert [(s["STATE"], s["#MEMBERS"]) for s in state] == [("Empty", "0")]
    reset = [*groups, "--reset-offsets", "--group", group, "--topic", topic]
    dry = group_rows(run_tool(kafka, *reset, "--to-earliest", "--dry-run").stdout)
    assert sorted((r["PARTITION"], r["NEW-OFFSET"]) for r in dry) == [("0", "0"), ("1", "0")]
    rows = group_rows(run_tool(kafka, *groups, "--describe", "--group", group).stdout)
    assert {r["CURRENT-OFFSET"] for r in rows} == {"5"}  # a dry run changes nothing
    run_tool(kafka, *reset, "--to-earliest", "--execute")
    rows = group_rows(run_tool(kafka, *groups, "--describe", "--group", group).stdout)
    assert {(r["CURRENT-OFFSET"], r["LAG"]) for r in rows} == {("0", "5")}
    run_tool(kafka, *groups, "--reset-offsets", "--group", group, "--topic", f"{topic}:1",
             "--to-offset", "3", "--execute")
    rows = group_rows(run_tool(kafka, *groups, "--describe", "--group", group).stdout)
    assert sorted((r["PARTITION"], r["CURRENT-OFFSET"]) for r in rows) == [("0", "0"),
                                                                          ("1", "3")]
    deleted = run_tool(kafka, *groups, "--delete", "--group", group).stdout
    assert f"Deletion of requested consumer groups ('{group}') was successful." in deleted
    assert group not in run_tool(kafka, *groups, "--list").stdout.split()
    missing = run_tool(kafka, *groups, "--describe", "--group", group).stdout
    assert f"Consumer group '{group}' does not exist." in missing


def dynamic_configs(text: str) -> dict[str, str]:
    """The `name=value sensitive=... synonyms=...` lines of kafka-configs --describe."""
    return dict(re.findall(r"^\s+([\w.]+)=(\S*) sensitive=", text, re.MULTILINE))


def test_configs_topic(kafka: KafkaDist, dev: Target) -> None:
    """kafka-configs adds, describes and deletes a topic's dynamic configs, and
    refuses an invalid value with Kafka's message."""
    b = dev.bootstrap
    topic = unique("tool-configs")
    create_topic(b, topic)
    configs = ["kafka-configs", "--bootstrap-server", b, "--entity-type", "topics",
               "--entity-name", topic]
    out = run_tool(kafka, *configs, "--alter", "--add-config",
                   "retention.ms=5000,cleanup.policy=[compact,delete]").stdout
    assert f"Completed updating config for topic {topic}." in out
    described = run_tool(kafka, *configs, "--describe").stdout
    assert f"Dynamic configs for topic {topic} are:" in described
    assert dynamic_configs(described) == {"retention.ms": "5000",
                                           "cleanup.policy": "compact,delete"}
    run_tool(kafka, *configs, "--alter", "--delete-config", "retention.ms")
    assert dynamic_configs(run_tool(kafka, *configs, "--describe").stdout) == {
        "cleanup.policy": "compact,delete"}
    bad = run_tool(kafka, *configs, "--alter", "--add-config", "retention.ms=soon",
                   expect_exit=1)
    assert ("InvalidConfigurationException: Invalid value soon for configuration "
            "retention.ms: Not a number of type LONG") in bad.stderr


def test_configs_broker_loggers(kafka: KafkaDist, dev: Target) -> None:
    """kafka-configs --entity-type broker-loggers lists kraft's loggers with Kafka's
    level names, sets one (its children follow) and deletes it; a logger that does
    not exist is refused by the tool itself, as against Kafka."""
    loggers = ["kafka-configs", "--bootstrap-server", dev.bootstrap,
               "--entity-type", "broker-loggers", "--entity-name", "1"]
    before = run_tool(kafka, *loggers, "--describe").stdout
    assert "Dynamic configs for broker-logger 1 are:" in before
    assert "  root=INFO sensitive=false synonyms={}" in before
    assert "  kraft.broker=INFO sensitive=false synonyms={}" in before
    done = run_tool(kafka, *loggers, "--alter", "--add-config", "kraft.broker=DEBUG").stdout
    assert "Completed updating config for broker-logger 1." in done
    after = run_tool(kafka, *loggers, "--describe").stdout
    assert "  kraft.broker=DEBUG sensitive=false synonyms={}" in after
    assert "  kraft.broker.group=DEBUG sensitive=false synonyms={}" in after
    run_tool(kafka, *loggers, "--alter", "--delete-config", "kraft.broker")
    assert "  kraft.broker=INFO " in run_tool(kafka, *loggers, "--describe").stdout
    refused = run_tool(kafka, *loggers, "--alter", "--add-config", "nope.logger=DEBUG",
                       expect_exit=1)
    assert "Invalid broker logger(s): nope.logger" in refused.stdout + refused.stderr


def test_configs_broker(kafka: KafkaDist, dev: Target) -> None:
    """kafka-configs describes a broker's configs (--all: static and default ones too),
    sets and deletes a per-broker and a cluster-wide dynamic config."""
    b = dev.bootstrap
    broker = ["kafka-configs", "--bootstrap-server", b, "--entity-type", "brokers",
              "--entity-name", "1"]
    everything = run_tool(kafka, *broker, "--describe", "--all").stdout
    assert "All configs for broker 1 are:" in everything
    assert dynamic_configs(everything)["message.max.bytes"] == "1048588"
    assert "node.id=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:node.id=1}" in everything
    run_tool(kafka, *broker, "--alter", "--add-config", "log.retention.ms=7200000")
    assert dynamic_configs(run_tool(kafka, *broker, "--describe").stdout) == {
        "log.retention.ms": "7200000"}
    run_tool(kafka, *broker, "--alter", "--delete-config", "log.retention.ms")
    assert dynamic_configs(run_tool(kafka, *broker, "--describe").stdout) == {}
    default = ["kafka-configs", "--bootstrap-server", b, "--entity-type", "brokers",
               "--entity-default"]
    out = run_tool(kafka, *default, "--alter", "--add-config", "log.retention.ms=7200000").stdout
    assert "Completed updating default config for brokers in the cluster." in out
    described = run_tool(kafka, *default, "--describe").stdout
    assert "log.retention.ms=7200000 sensitive=false " \
           "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000}" in described
    run_tool(kafka, *default, "--alter", "--delete-config", "log.retention.ms")
    assert dynamic_configs(run_tool(kafka, *default, "--describe").stdout) == {}


def test_configs_broker_dynamic_thread_and_cleaner_configs(kafka: KafkaDist,
                                                           dev: Target) -> None:
    """Broker configs that Kafka updates at runtime (log cleaner, thread pools) can be
    set per broker with kafka-configs, as against Kafka."""
    broker = ["kafka-configs", "--bootstrap-server", dev.bootstrap, "--entity-type", "brokers",
              "--entity-name", "1"]
    try:
        run_tool(kafka, *broker, "--alter", "--add-config",
                 "log.cleaner.threads=2,num.io.threads=4")
        assert dynamic_configs(run_tool(kafka, *broker, "--describe").stdout) == {
            "log.cleaner.threads": "2", "num.io.threads": "4"}
    finally:
        run_tool(kafka, *broker, "--alter", "--delete-config",
                 "log.cleaner.threads,num.io.threads", expect_exit=None)


def test_get_offsets(kafka: KafkaDist, dev: Target) -> None:
    """kafka-get-offsets prints topic:partition:offset for latest (-1), earliest (-2),
    max timestamp (-3) and a timestamp, per partition or for one."""
    b = dev.bootstrap
    topic = unique("tool-offsets")
    create_topic(b, topic, partitions=2)
    base = 1_700_000_000_000
    produce(b, topic, [(0, b"a%d" % i, base + 1000 * i) for i in range(7)]
            + [(1, b"b%d" % i, base + 1000 * i) for i in range(3)])

    def offsets(*args: str) -> list[str]:
        return run_tool(kafka, "kafka-get-offsets", "--bootstrap-server", b, *args).stdout.split()

    assert offsets("--topic", topic, "--time", "-1") == [f"{topic}:0:7", f"{topic}:1:3"]
    assert offsets("--topic", topic, "--time", "-2") == [f"{topic}:0:0", f"{topic}:1:0"]
    assert offsets("--topic", topic, "--time", "-3") == [f"{topic}:0:6", f"{topic}:1:2"]
    assert offsets("--topic-partitions", f"{topic}:0", "--time", str(base + 4500)) == [
        f"{topic}:0:5"]


def test_delete_records(kafka: KafkaDist, dev: Target, tmp_path: Path) -> None:
    """kafka-delete-records moves the log start to the offset asked and reports the
    low watermark; an offset past the end is reported as out of range."""
    b = dev.bootstrap
    topic = unique("tool-delete")
    create_topic(b, topic)
    produce(b, topic, [(0, b"v%d" % i, None) for i in range(10)])
    plan = write(tmp_path / "delete.json", json.dumps(
        {"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 4}]}))
    out = run_tool(kafka, "kafka-delete-records", "--bootstrap-server", b,
                   "--offset-json-file", str(plan)).stdout
    assert f"partition: {topic}-0\tlow_watermark: 4" in out
    assert watermarks(b, topic, 0) == (4, 10)
    too_far = write(tmp_path / "too-far.json", json.dumps(
        {"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 100}]}))
    out = run_tool(kafka, "kafka-delete-records", "--bootstrap-server", b,
                   "--offset-json-file", str(too_far)).stdout
    assert f"partition: {topic}-0\terror: org.apache.kafka.common.errors." \
           "OffsetOutOfRangeException" in out
    assert watermarks(b, topic, 0) == (4, 10)


def test_log_dirs(kafka: KafkaDist, target: Target) -> None:
    """kafka-log-dirs --describe reports, for every broker, its log dir and the size
    of each replica of the topic it holds."""
    b = target.bootstrap
    topic = unique("tool-log-dirs")
    rf = min(3, target.brokers)
    create_topic(b, topic, partitions=2, replication=rf)
    produce(b, topic, [(i % 2, b"x" * 100, None) for i in range(20)])
    out = run_tool(kafka, "kafka-log-dirs", "--bootstrap-server", b, "--describe",
                   "--topic-list", topic).stdout
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    brokers = report["brokers"]
    assert sorted(x["broker"] for x in brokers) == list(range(1, target.brokers + 1))
    replicas = []
    for broker in brokers:
        assert len(broker["logDirs"]) == 1 and broker["logDirs"][0]["error"] is None
        for p in broker["logDirs"][0]["partitions"]:
            replicas.append(p["partition"])
            assert p["size"] > 0 and p["offsetLag"] == 0 and p["isFuture"] is False
    assert sorted(replicas) == [f"{topic}-0"] * rf + [f"{topic}-1"] * rf


def status_fields(text: str) -> dict[str, str]:
    return {k: v.strip() for k, v in re.findall(r"^(\w+):\s+(.*)$", text, re.MULTILINE)}


def test_metadata_quorum(kafka: KafkaDist, target: Target) -> None:
    """kafka-metadata-quorum describe --status names the cluster, the leader and every
    voter; --replication lists one leader and the followers, all caught up or close."""
    quorum = ["kafka-metadata-quorum", "--bootstrap-server", target.bootstrap, "describe"]
    status = status_fields(run_tool(kafka, *quorum, "--status").stdout)
    ids = list(range(1, target.brokers + 1))
    assert status["ClusterId"] == target.cluster_id
    assert int(status["LeaderId"]) in ids and int(status["LeaderEpoch"]) >= 1
    assert int(status["HighWatermark"]) > 0
    voters = json.loads(status["CurrentVoters"])
    assert sorted(v["id"] for v in voters) == ids
    assert json.loads(status["CurrentObservers"]) == []
    table = run_tool(kafka, *quorum, "--replication").stdout.splitlines()
    rows = [line.split() for line in table[1:] if line.strip()]
    assert table[0].split()[:4] == ["NodeId", "DirectoryId", "LogEndOffset", "Lag"]
    assert sorted(int(r[0]) for r in rows) == ids
    assert sorted(r[-1] for r in rows) == sorted(["Leader"] + ["Follower"] * (len(ids) - 1))


def test_metadata_quorum_through_the_controllers(kafka: KafkaDist, dev: Target) -> None:
    """kafka-metadata-quorum --bootstrap-controller asks the controller quorum directly."""
    out = run_tool(kafka, "kafka-metadata-quorum", "--bootstrap-controller", dev.controllers,
                   "describe", "--status", timeout=60).stdout
    status = status_fields(out)
    assert status["ClusterId"] == dev.cluster_id and status["LeaderId"] == "1"


@pytest.mark.slow
def test_leader_election(kafka: KafkaDist, cluster: Target, tmp_path: Path) -> None:
    """kafka-leader-election --election-type PREFERRED moves leadership to the first
    replica after kafka-reassign-partitions reordered the replicas."""
    b = cluster.bootstrap
    topic = unique("tool-elect")
    run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--create", "--topic", topic,
             "--replica-assignment", "2:3:1")
    first = describe_topic(kafka, b, topic)["partitions"][0]
    assert (first["Leader"], first["Replicas"]) == ("2", "2,3,1")
    plan = write(tmp_path / "reorder.json", json.dumps(
        {"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [3, 2, 1]}]}))
    run_tool(kafka, "kafka-reassign-partitions", "--bootstrap-server", b, "--execute",
             "--reassignment-json-file", str(plan))
    verify = run_tool(kafka, "kafka-reassign-partitions", "--bootstrap-server", b, "--verify",
                      "--reassignment-json-file", str(plan)).stdout
    assert f"Reassignment of partition {topic}-0 is completed." in verify
    reordered = describe_topic(kafka, b, topic)["partitions"][0]
    assert (reordered["Leader"], reordered["Replicas"]) == ("2", "3,2,1")
    out = run_tool(kafka, "kafka-leader-election", "--bootstrap-server", b,
                   "--election-type", "PREFERRED", "--topic", topic, "--partition", "0").stdout
    assert f"Successfully completed leader election (PREFERRED) for partitions {topic}-0" in out
    assert describe_topic(kafka, b, topic)["partitions"][0]["Leader"] == "3"
    out = run_tool(kafka, "kafka-leader-election", "--bootstrap-server", b,
                   "--election-type", "PREFERRED", "--topic", topic, "--partition", "0").stdout
    assert f"Valid replica already elected for partitions {topic}-0" in out


@pytest.mark.slow
def test_reassign_partitions(kafka: KafkaDist, cluster: Target, tmp_path: Path) -> None:
    """kafka-reassign-partitions --generate proposes a plan, --execute (with a
    throttle, which kraft enforces) moves a partition from brokers 1, 2 to 2, 3 and
    --verify reports it completed and clears the throttles; the records are all
    there, read from the new replicas."""
    b = cluster.bootstrap
    topic = unique("tool-reassign")
    run_tool(kafka, "kafka-topics", "--bootstrap-server", b, "--create", "--topic", topic,
             "--replica-assignment", "1:2")
    produce(b, topic, [(0, b"r%d" % i, None) for i in range(50)])
    move = write(tmp_path / "move.json", json.dumps({"version": 1, "topics": [{"topic": topic}]}))
    generated = run_tool(kafka, "kafka-reassign-partitions", "--bootstrap-server", b,
                         "--generate", "--topics-to-move-json-file", str(move),
                         "--broker-list", "2,3").stdout
    current, proposed = (json.loads(line) for line in generated.splitlines()
                         if line.startswith("{"))
    assert current["partitions"][0]["replicas"] == [1, 2]
    assert sorted(proposed["partitions"][0]["replicas"]) == [2, 3]
    plan = write(tmp_path / "plan.json", json.dumps(
        {"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [2, 3]}]}))
    out = run_tool(kafka, "kafka-reassign-partitions", "--bootstrap-server", b, "--execute",
                   "--reassignment-json-file", str(plan), "--throttle", "50000000").stdout
    assert "The inter-broker throttle limit was set to 50000000 B/s" in out
    assert f"Successfully started partition reassignment for {topic}-0" in out
    verify = ""
    for _ in range(30):  # each --verify is a JVM run of about a second
        verify = run_tool(kafka, "kafka-reassign-partitions", "--bootstrap-server", b,
                          "--verify", "--reassignment-json-file", str(plan)).stdout
        if "is completed" in verify:
            break
    assert f"Reassignment of partition {topic}-0 is completed." in verify
    assert f"Clearing topic-level throttles on topic {topic}" in verify
    moved = describe_topic(kafka, b, topic)["partitions"][0]
    assert moved["Replicas"] == "2,3" and sorted(moved["Isr"].split(",")) == ["2", "3"]
    assert watermarks(b, topic, 0) == (0, 50)


def test_producer_perf_test(kafka: KafkaDist, dev: Target) -> None:
    """kafka-producer-perf-test sends every record it reports (acks=all), and they are
    all in the topic."""
    b = dev.bootstrap
    topic = unique("tool-perf-produce")
    create_topic(b, topic)
    out = run_tool(kafka, "kafka-producer-perf-test", "--topic", topic, "--num-records", "20000",
                   "--record-size", "100", "--throughput", "-1", "--bootstrap-server", b,
                   "--command-property", "acks=all").stdout
    summary = out.strip().splitlines()[-1]
    assert re.match(r"20000 records sent, [\d.]+ records/sec", summary), summary
    assert watermarks(b, topic, 0) == (0, 20000)


def test_consumer_perf_test(kafka: KafkaDist, dev: Target) -> None:
    """kafka-consumer-perf-test reads every record of the topic and reports their
    count and size."""
    b = dev.bootstrap
    topic = unique("tool-perf-consume")
    create_topic(b, topic, partitions=2)
    produce(b, topic, [(i % 2, b"%0100d" % i, None) for i in range(5000)])
    out = run_tool(kafka, "kafka-consumer-perf-test", "--bootstrap-server", b, "--topic", topic,
                   "--num-records", "5000", "--timeout", "60000").stdout
    lines = [line for line in out.splitlines() if line.strip()]
    header = [h.strip() for h in lines[0].split(",")]
    row = dict(zip(header, (v.strip() for v in lines[1].split(",")), strict=True))
    assert int(row["data.consumed.in.nMsg"]) == 5000
    assert float(row["data.consumed.in.MB"]) == pytest.approx(5000 * 100 / 2**20, abs=1e-3)
