"""A failing disk stops the node and loses nothing acknowledged
(kraft.storage_failure).

Theory of operation: the node runs with RLIMIT_FSIZE, so a write that would
grow any file past the limit fails with EFBIG, as a full disk fails with
ENOSPC (the same path: an OSError with a storage errno; a small tmpfs gives
ENOSPC too but needs mount). An idempotent librdkafka producer with
acks=all writes until the active segment reaches the limit. The node must
then stop by itself with exit status 1 and one line naming the failure (no
"bug while serving" tracebacks), and after a restart without the limit
every acknowledged record must be read back at its acknowledged offset.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import confluent_kafka
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.dev import DevNode

LIMIT = 4 * 1024 * 1024
RECORD = 1000
# Index files are preallocated: keep them under the limit so only the log grows past it.
SMALL_INDEXES = "log.index.size.max.bytes=1048576"


def test_disk_failure_stops_the_node_and_keeps_acknowledged_records(
    dev_factory: Callable[..., DevNode],
) -> None:
    node = dev_factory(SMALL_INDEXES, file_size_limit=LIMIT)
    admin = AdminClient({"bootstrap.servers": node.bootstrap})
    admin.create_topics([NewTopic("full", 1, 1)])["full"].result(30)
    producer = confluent_kafka.Producer({
        "bootstrap.servers": node.bootstrap, "acks": "all", "enable.idempotence": True,
        "linger.ms": 5, "message.timeout.ms": 10_000,
    })
    acked: dict[int, bytes] = {}

    def delivered(err: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
        if err is None:
            acked[msg.offset()] = msg.value()

    for i in range(2 * LIMIT // RECORD):
        producer.produce("full", value=b"%07d|" % i + bytes(RECORD), on_delivery=delivered)
        producer.poll(0)
    producer.flush(60)

    proc = node.proc
    assert proc is not None
    assert proc.wait(30) == 1  # stopped by itself
    stderr = node.stderr()
    assert "storage failure, node stopped: [Errno 27] File too large" in stderr, stderr
    assert "bug while serving" not in stderr and "Traceback" not in stderr, stderr
    assert LIMIT // (2 * RECORD) < len(acked) < LIMIT // RECORD, len(acked)
    node.proc = None

    restarted = dev_factory(SMALL_INDEXES, data_dir=node.data_dir)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": restarted.bootstrap,
                                         "group.id": "check", "enable.auto.commit": False})
    read: dict[int, bytes] = {}
    try:
        consumer.assign([TopicPartition("full", 0, 0)])
        deadline = time.monotonic() + 60
        while len(read) < len(acked) and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.5):
                assert m.error() is None, m.error()
                read[m.offset()] = m.value()
    finally:
        consumer.close()
    lost = [offset for offset, value in acked.items() if read.get(offset) != value]
    assert lost == [], f"{len(lost)} acknowledged records lost, first {lost[:5]}"
