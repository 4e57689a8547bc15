"""`kraft transactions` prints what Kafka 4.4's kafka-transactions prints against the same
kraft node: the same tables (cells and padding) for list, describe, describe-producers and
find-hanging while a confluent-kafka transaction is open, and the same one-line errors
with exit 1 for an unknown transactional id and an offset where no transaction starts."""

from __future__ import annotations

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from tests.compat.conftest import Target, run_tool, unique
from tests.compat.kafka_dist import KafkaDist
from tests.kraft.test_cli import kraft


def _without_column(table: str, index: int) -> list[list[str]]:
    """The table's rows, cells kept with their padding, but column `index` (a moving
    duration) dropped."""
    return [[c for i, c in enumerate(line.split("\t")) if i != index]
            for line in table.splitlines()]


def test_tables_and_errors_as_kafka_prints_them(kafka: KafkaDist, dev: Target) -> None:
    """Both tools print the same tables for an open transaction and the same errors."""
    topic, txn_id = unique("txn-tool"), unique("txn-tool-id")
    admin = AdminClient({"bootstrap.servers": dev.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = confluent_kafka.Producer({"bootstrap.servers": dev.bootstrap,
                                         "transactional.id": txn_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"open", partition=0)
    producer.flush(30)
    base = ("--bootstrap-server", dev.bootstrap)
    try:
        for args, moving_column in (
                (("describe-producers", "--topic", topic, "--partition", "0"), None),
                (("describe", "--transactional-id", txn_id), 7),  # TransactionDurationMs
                (("find-hanging", "--topic", topic, "--max-transaction-timeout", "0"), None)):
            theirs = run_tool(kafka, "kafka-transactions", *base, *args).stdout
            ours = kraft("transactions", *base, *args)
            assert ours.returncode == 0, ours.stderr
            if moving_column is None:
                assert ours.stdout == theirs
            else:
                assert _without_column(ours.stdout, moving_column) == \
                    _without_column(theirs, moving_column)
        # Other tests' transactions come and go: compare the header and our row.
        theirs = run_tool(kafka, "kafka-transactions", *base, "list").stdout.splitlines()
        ours_list = kraft("transactions", *base, "list").stdout.splitlines()
        assert ours_list[0].split() == theirs[0].split()
        assert [r.split() for r in ours_list if r.startswith(txn_id)] == \
            [r.split() for r in theirs if r.startswith(txn_id)]
        for args in (("describe", "--transactional-id", unique("nobody")),
                     ("abort", "--topic", topic, "--partition", "0", "--start-offset", "99")):
            theirs_error = run_tool(kafka, "kafka-transactions", *base, *args, expect_exit=1)
            ours_error = kraft("transactions", *base, *args)
            assert ours_error.returncode == 1
            kafka_lines = [line for line in theirs_error.stderr.splitlines()
                           if line.startswith(("Failed", "Could not"))]
            assert ours_error.stderr.splitlines() == kafka_lines
    finally:
        producer.abort_transaction(30)
