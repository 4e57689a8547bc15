"""`kraft transactions` (Kafka's kafka-transactions, KIP-664) against one real `kraft dev`
node shared by the module: an open transaction of confluent-kafka's transactional
producer shown by list / describe / describe-producers; a hanging transaction found by
find-hanging and aborted by start offset, after which the last stable offset moves on;
bad input told in one line with exit 1, in Kafka's wording.

The hanging transaction is made the way KIP-664 describes them: a transactional batch
the coordinator never heard of (a Produce below v12 with no AddPartitionsToTxn first, as
a delayed write arrives), so no marker will ever end it. The node runs with Kafka's
transaction.partition.verification.enable=false, as brokers before KIP-890 did, which
is when such batches get in. The tool runs in the test process (its parser and main)
to spare a Python start-up per call; one subprocess checks the `kraft` wiring. The node
is closed in the fixture's `finally`, also when a test fails.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import confluent_kafka
import pytest
import trio
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v4 import request as find_v4
from kio.schema.init_producer_id.v4 import request as init_v4
from kio.schema.produce.v11 import request as produce_v11

from kraft.log.records import Record, build_batch
from kraft.tools import transactions
from tests.integration import protocol as p
from tests.integration.dev import DevNode
from tests.kraft.test_cli import kraft, one_line

TOPIC = "orders"
OPEN_ID = "open-txn"
HANGING_ID = "forgotten"


def tool(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """`kraft transactions ARGS` run in this process (the tool's parser and main, without
    a Python start-up per call); the wiring into `kraft` is checked by a subprocess in
    test_usage_error_exits_1."""
    parser = argparse.ArgumentParser(prog="kraft")
    transactions.add_parsers(parser.add_subparsers(dest="command"))
    capsys.readouterr()
    code = transactions.main(parser.parse_args(["transactions", *args]))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def _rows(stdout: str) -> list[list[str]]:
    """Kafka's prettyPrintTable back into cells (every cell is followed by a tab)."""
    lines = stdout.splitlines()
    assert all(line.endswith("\t") for line in lines), stdout
    return [[cell.strip() for cell in line[:-1].split("\t")] for line in lines]


async def _hang_a_transaction(bootstrap: str) -> int:
    """A transactional batch on orders-1 that the coordinator of HANGING_ID does not know
    about; returns its offset."""
    async with p.connect(bootstrap) as conn:
        for _ in range(100):
            found = await conn.request(find_v4.FindCoordinatorRequest(
                key_type=1, coordinator_keys=(HANGING_ID,)), p.TIMEOUT_S)
            if found.coordinators[0].error_code == ErrorCode.none:
                break
            await trio.sleep(0.1)
        for _ in range(100):
            init = await conn.request(init_v4.InitProducerIdRequest(
                transactional_id=HANGING_ID, transaction_timeout=timedelta(minutes=1),
                producer_id=-1, producer_epoch=-1), p.TIMEOUT_S)
            if init.error_code == ErrorCode.none:
                break
            await trio.sleep(0.1)
        assert init.error_code == ErrorCode.none, init
        batch = build_batch([Record(None, b"late", (), int(time.time() * 1000))],
                            producer_id=init.producer_id, producer_epoch=init.producer_epoch,
                            base_sequence=0, is_transactional=True)
        answer = p.only_partition(await conn.request(produce_v11.ProduceRequest(
            transactional_id=HANGING_ID, acks=-1, timeout=timedelta(seconds=10),
            topic_data=(produce_v11.TopicProduceData(name=TOPIC, partition_data=(
                produce_v11.PartitionProduceData(index=1, records=batch),)),)), p.TIMEOUT_S))
        assert answer.error_code == ErrorCode.none, answer
        return int(answer.base_offset)


def _lso(bootstrap: str, partition: int) -> tuple[int, int]:
    """(last stable offset, high watermark) of orders-`partition`."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "lso",
                                         "isolation.level": "read_committed"})
    try:
        tp = confluent_kafka.TopicPartition(TOPIC, partition)
        _, committed_end = consumer.get_watermark_offsets(tp, timeout=10)
        uncommitted = confluent_kafka.Consumer({
            "bootstrap.servers": bootstrap, "group.id": "lso",
            "isolation.level": "read_uncommitted"})
        try:
            _, high = uncommitted.get_watermark_offsets(tp, timeout=10)
        finally:
            uncommitted.close()
        return committed_end, high
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevNode, int]]:
    """One dev node with topic `orders` (2 partitions): OPEN_ID's transaction open on
    orders-0 and a hanging one on orders-1; yields (node, the hanging batch's offset)."""
    root: Path = tmp_path_factory.mktemp("txntool")
    dev = DevNode(root / "data", root / "logs",
                  "transaction.partition.verification.enable=false")
    producer = None
    try:
        dev.start()
        admin = AdminClient({"bootstrap.servers": dev.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(20)
        producer = confluent_kafka.Producer({
            "bootstrap.servers": dev.bootstrap, "transactional.id": OPEN_ID,
            "transaction.timeout.ms": 600_000})
        producer.init_transactions(20)
        producer.begin_transaction()
        producer.produce(TOPIC, b"pending", partition=0)
        producer.flush(20)
        hanging_offset = trio.run(_hang_a_transaction, dev.bootstrap)
        yield dev, hanging_offset
    finally:
        del producer
        dev.close()


def test_open_transaction_listed_and_described(node: tuple[DevNode, int],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """list, describe and describe-producers show the open transaction with Kafka's
    headers: Ongoing at its coordinator, on orders-0, starting at offset 0."""
    dev, _ = node
    listed = tool(capsys, "--bootstrap-server", dev.bootstrap, "list")
    assert listed.returncode == 0, listed.stderr
    rows = _rows(listed.stdout)
    assert rows[0] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    states = {row[0]: row[3] for row in rows[1:]}
    assert states[OPEN_ID] == "Ongoing" and states[HANGING_ID] == "Empty"
    described = tool(capsys, "--bootstrap-server", dev.bootstrap, "describe",
                      "--transactional-id", OPEN_ID)
    assert described.returncode == 0, described.stderr
    header, row = _rows(described.stdout)
    assert header == ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch",
                      "TransactionState", "TransactionTimeoutMs",
                      "CurrentTransactionStartTimeMs", "TransactionDurationMs",
                      "TopicPartitions"]
    assert (row[1], row[4], row[5], row[8]) == (OPEN_ID, "Ongoing", "600000", f"{TOPIC}-0")
    empty = _rows(tool(capsys, "--bootstrap-server", dev.bootstrap, "describe",
                        "--transactional-id", HANGING_ID).stdout)[1]
    assert (empty[4], empty[6], empty[7], empty[8]) == ("Empty", "None", "None", "")
    producers = tool(capsys, "--bootstrap-server", dev.bootstrap,
                      "describe-producers", "--topic", TOPIC, "--partition", "0")
    assert producers.returncode == 0, producers.stderr
    header, *active = _rows(producers.stdout)
    assert header == ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence",
                      "LastTimestamp", "CurrentTransactionStartOffset"]
    assert [(r[0], r[5]) for r in active] == [(row[2], "0")]


def test_hanging_transaction_found_and_aborted(node: tuple[DevNode, int],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """find-hanging names the forgotten batch on orders-1 (not the open transaction the
    coordinator knows); abort by its start offset writes the marker, the last stable
    offset reaches the high watermark, and find-hanging finds nothing more."""
    dev, offset = node
    assert _lso(dev.bootstrap, 1) == (offset, offset + 1)
    found = tool(capsys, "--bootstrap-server", dev.bootstrap, "find-hanging",
                  "--broker-id", "1", "--max-transaction-timeout", "0")
    assert found.returncode == 0, found.stderr
    header, *hanging = _rows(found.stdout)
    assert header == ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch",
                      "StartOffset", "LastTimestamp", "Duration(min)"]
    assert [(r[0], r[1], r[4], r[5]) for r in hanging] == [(TOPIC, "1", "-1", str(offset))]
    # Kafka's default window (15 minutes) leaves a fresh transaction alone.
    recent = tool(capsys, "--bootstrap-server", dev.bootstrap, "find-hanging",
                   "--topic", TOPIC)
    assert _rows(recent.stdout)[1:] == []
    aborted = tool(capsys, "--bootstrap-server", dev.bootstrap, "abort", "--topic",
                    TOPIC, "--partition", "1", "--start-offset", str(offset))
    assert aborted.returncode == 0 and aborted.stdout == "" and aborted.stderr == ""
    assert _lso(dev.bootstrap, 1) == (offset + 2, offset + 2)  # the batch and its marker
    again = tool(capsys, "--bootstrap-server", dev.bootstrap, "find-hanging",
                  "--topic", TOPIC, "--max-transaction-timeout", "0")
    assert _rows(again.stdout)[1:] == []


@pytest.mark.parametrize(("args", "expected"), [
    (("describe", "--transactional-id", "nobody"),
     "Failed to describe transaction state of transactional-id `nobody`: DescribeTransactions "
     "request for transactionalId `nobody` failed because the ID could not be found. Enable "
     "debug logging for additional detail."),
    (("abort", "--topic", TOPIC, "--partition", "0", "--start-offset", "7"),
     f"Could not find any open transactions starting at offset 7 on partition {TOPIC}-0"),
    (("describe-producers", "--topic", "missing", "--partition", "0"),
     "Failed to describe producers for partition missing-0 on leader: This server does not "
     "host this topic-partition.. Enable debug logging for additional detail."),
    (("abort", "--topic", TOPIC, "--partition", "0"),
     "The transaction to abort must be identified either with --start-offset (for brokers on "
     "3.0 or above) or with --producer-id, --producer-epoch, and --coordinator-epoch (for "
     "older brokers)"),
    (("--command-config", "/nonexistent/admin.properties", "list"),
     "Failed to load admin client properties: /nonexistent/admin.properties. Enable debug "
     "logging for additional detail."),
    (("find-hanging",),
     "The `find-hanging` command requires either --topic or --broker-id to limit the scope "
     "of the search"),
])
def test_bad_input_one_line_exit_1(node: tuple[DevNode, int], args: tuple[str, ...],
                                   expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown transactional id, no transaction at that offset, an unknown topic, a
    missing properties file and missing flags: Kafka's one line on stderr, exit 1."""
    dev, _ = node
    result = tool(capsys, "--bootstrap-server", dev.bootstrap, *args)
    assert result.returncode == 1 and result.stdout == ""
    assert one_line(result.stderr) == expected


def test_command_config_that_cannot_be_honoured_is_refused(
        node: tuple[DevNode, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--command-config asking for SASL without credentials is refused in one line naming
    the key; a PLAINTEXT one is accepted (SASL_SSL with credentials:
    tests/security/test_dev_sasl_ssl.py)."""
    dev, _ = node
    secure = tmp_path / "admin.properties"
    secure.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n")
    refused = tool(capsys, "--bootstrap-server", dev.bootstrap, "--command-config",
                    str(secure), "list")
    assert refused.returncode == 1
    assert one_line(refused.stderr) == (
        f"{secure}: sasl.jaas.config must give the username and password for PLAIN "
        "(kraft reads no JAAS file)")
    plain = tmp_path / "plain.properties"
    plain.write_text("security.protocol=PLAINTEXT\n")
    accepted = tool(capsys, "--bootstrap-server", dev.bootstrap, "--command-config",
                     str(plain), "list")
    assert accepted.returncode == 0, accepted.stderr


def test_usage_error_exits_1() -> None:
    """A missing required flag is a usage error with exit 1, as kafka-transactions
    (argparse's own code is 2)."""
    result = kraft("transactions", "--bootstrap-server", "127.0.0.1:1", "abort",
                   "--topic", TOPIC)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == ("kraft transactions abort: error: the following "
                                              "arguments are required: --partition")
