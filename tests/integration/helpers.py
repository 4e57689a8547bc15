"""Shared helpers of the real-client acceptance tests (tests/integration/test_clients_*.py).

Theory of operation: the acceptance tests drive `kraft dev` through the
admin APIs of two real clients, librdkafka (confluent-kafka) and
kafka-python, and compare what they see with each other, with the data
directory and with the `kraft metadata` tools. To write each test once for
both clients, `ConfluentAdmin` and `KafkaPythonAdmin` expose the same small
surface (`Admin`) and translate each client's answers into plain values:
topic names, `PartitionView`s, `{config: (value, source)}` with Kafka's
ConfigSource names. Every failure a client reports becomes `AdminError`
carrying Kafka's numeric error code, so tests compare it with
`kio.schema.errors.ErrorCode`.

`kraft(*args)` runs the `kraft` command as a separate process, as a user
would; `parse_show` reads the tables of `kraft metadata show`. `wait_until`
polls for an outcome that the broker reaches asynchronously (a directory
deleted in a worker thread) under a generous deadline: a liveness bound,
never a performance assertion.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import confluent_kafka
import kafka
import kafka.errors
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from kafka.admin import AlterConfigOp, ConfigResourceType, KafkaAdminClient
from kafka.admin import ConfigResource as KafkaPythonConfigResource

REQUEST_TIMEOUT_S = 30.0
METADATA_DIR = "__cluster_metadata-0"
MASK64 = (1 << 64) - 1


class AdminError(Exception):
    """A Kafka error a client reported; `code` is Kafka's numeric error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code


class PartitionView(NamedTuple):
    """One partition as a client's admin API describes it."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


class TopicView(NamedTuple):
    """One topic as a client's admin API describes it; `topic_id` in UUID text form."""

    topic_id: str
    partitions: list[PartitionView]  # sorted by partition index


class Admin(Protocol):
    """What the acceptance tests need from a client's admin API."""

    name: str

    def list_topics(self) -> set[str]: ...

    def describe_topics(self, names: list[str]) -> dict[str, TopicView]:
        """Raises AdminError for an unknown topic."""
        ...

    def create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> None: ...

    def describe_configs(self, topic: str) -> dict[str, tuple[str | None, str]]:
        """Every config of the topic: name -> (value, Kafka ConfigSource name)."""
        ...

    def incremental_alter_configs(
        self, topic: str, set_: dict[str, str], delete: list[str]
    ) -> None: ...

    def create_partitions(self, topic: str, total: int) -> None: ...

    def delete_topics(self, names: list[str]) -> None: ...

    def brokers(self) -> dict[int, tuple[str, int]]:
        """Broker id -> (host, port) from Metadata."""
        ...

    def close(self) -> None: ...


def _confluent_result(future: Future[Any]) -> Any:
    try:
        return future.result(REQUEST_TIMEOUT_S)
    except confluent_kafka.KafkaException as e:
        error = e.args[0]
        raise AdminError(error.code(), error.str()) from e


class ConfluentAdmin:
    """`Admin` over confluent-kafka's AdminClient (librdkafka)."""

    name = "confluent-kafka"

    def __init__(self, bootstrap: str) -> None:
        self._client = AdminClient({"bootstrap.servers": bootstrap})

    def list_topics(self) -> set[str]:
        return set(self._client.list_topics(timeout=REQUEST_TIMEOUT_S).topics)

    def describe_topics(self, names: list[str]) -> dict[str, TopicView]:
        futures = self._client.describe_topics(
            confluent_kafka.TopicCollection(names), request_timeout=REQUEST_TIMEOUT_S
        )
        out = {}
        for name, future in futures.items():
            description = _confluent_result(future)
            topic_id = description.topic_id
            # librdkafka's Uuid gives the two signed 64-bit halves of the UUID.
            as_int = ((topic_id.get_most_significant_bits() & MASK64) << 64) | (
                topic_id.get_least_significant_bits() & MASK64)
            out[name] = TopicView(str(uuid.UUID(int=as_int)), sorted(
                PartitionView(p.id, p.leader.id, tuple(r.id for r in p.replicas),
                              tuple(r.id for r in p.isr))
                for p in description.partitions
            ))
        return out

    def create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> None:
        futures = self._client.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=configs)],
            request_timeout=REQUEST_TIMEOUT_S,
        )
        _confluent_result(futures[name])

    def describe_configs(self, topic: str) -> dict[str, tuple[str | None, str]]:
        resource = ConfigResource(ResourceType.TOPIC, topic)
        futures = self._client.describe_configs([resource], request_timeout=REQUEST_TIMEOUT_S)
        entries = _confluent_result(futures[resource])
        return {name: (entry.value, ConfigSource(entry.source).name)
                for name, entry in entries.items()}

    def incremental_alter_configs(
        self, topic: str, set_: dict[str, str], delete: list[str]
    ) -> None:
        ops = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
               for k, v in set_.items()]
        ops += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                for k in delete]
        resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=ops)
        futures = self._client.incremental_alter_configs([resource])
        _confluent_result(futures[resource])

    def create_partitions(self, topic: str, total: int) -> None:
        futures = self._client.create_partitions(
            [NewPartitions(topic, total)], request_timeout=REQUEST_TIMEOUT_S
        )
        _confluent_result(futures[topic])

    def delete_topics(self, names: list[str]) -> None:
        futures = self._client.delete_topics(names, request_timeout=REQUEST_TIMEOUT_S)
        for name in names:
            _confluent_result(futures[name])

    def brokers(self) -> dict[int, tuple[str, int]]:
        metadata = self._client.list_topics(timeout=REQUEST_TIMEOUT_S)
        return {b.id: (b.host, b.port) for b in metadata.brokers.values()}

    def close(self) -> None:
        # librdkafka destroys the handle with its last reference; dropping it
        # here stops reconnect attempts to a node the test is about to kill.
        del self._client


def _kafka_python_call(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except kafka.errors.KafkaError as e:
        code = getattr(e, "errno", None)
        if not isinstance(code, int):
            raise
        raise AdminError(code, str(e)) from e


class KafkaPythonAdmin:
    """`Admin` over kafka-python's KafkaAdminClient."""

    name = "kafka-python"

    def __init__(self, bootstrap: str) -> None:
        self._client = KafkaAdminClient(bootstrap_servers=bootstrap,
                                        request_timeout_ms=int(REQUEST_TIMEOUT_S * 1000))

    def list_topics(self) -> set[str]:
        return set(_kafka_python_call(self._client.list_topics))

    def describe_topics(self, names: list[str]) -> dict[str, TopicView]:
        topics = _kafka_python_call(lambda: self._client.describe_topics(names))
        out = {}
        for topic in topics:
            if topic["error_code"]:
                raise AdminError(topic["error_code"], f"describe {topic['name']}")
            out[topic["name"]] = TopicView(str(topic["topic_id"]), sorted(
                PartitionView(p["partition_index"], p["leader_id"], tuple(p["replica_nodes"]),
                              tuple(p["isr_nodes"]))
                for p in topic["partitions"]
            ))
        return out

    def create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> None:
        _kafka_python_call(lambda: self._client.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1, "configs": configs}}
        ))

    def describe_configs(self, topic: str) -> dict[str, tuple[str | None, str]]:
        resource = KafkaPythonConfigResource(ConfigResourceType.TOPIC, topic)
        result = _kafka_python_call(
            lambda: self._client.describe_configs([resource], config_filter="all")
        )
        entries = result["topic"][topic]
        return {name: (e["value"], e["config_source"]) for name, e in entries.items()}

    def incremental_alter_configs(
        self, topic: str, set_: dict[str, str], delete: list[str]
    ) -> None:
        configs: dict[str, tuple[AlterConfigOp, str | None]] = {
            k: (AlterConfigOp.SET, v) for k, v in set_.items()
        }
        configs.update({k: (AlterConfigOp.DELETE, None) for k in delete})
        resource = KafkaPythonConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)
        result = _kafka_python_call(
            lambda: self._client.alter_configs([resource], incremental=True)
        )
        outcome = result["topic"][topic]
        if outcome != "OK":
            # kafka-python reports a failed resource as the text of its exception,
            # "[Error <code>] <name>: <message>".
            code = re.match(r"\[Error (-?\d+)\]", outcome)
            if code is None:
                raise AssertionError(f"unexpected alter configs result {outcome!r}")
            raise AdminError(int(code[1]), outcome)

    def create_partitions(self, topic: str, total: int) -> None:
        _kafka_python_call(lambda: self._client.create_partitions({topic: total}))

    def delete_topics(self, names: list[str]) -> None:
        _kafka_python_call(lambda: self._client.delete_topics(names))

    def brokers(self) -> dict[int, tuple[str, int]]:
        cluster = _kafka_python_call(self._client.describe_cluster)
        return {b["broker_id"]: (b["host"], b["port"])
                for b in cluster["brokers"]}

    def close(self) -> None:
        self._client.close()


ADMINS: dict[str, Callable[[str], Admin]] = {
    "confluent-kafka": ConfluentAdmin,
    "kafka-python": KafkaPythonAdmin,
}


def kraft(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m kraft.cli ARGS` to completion; raises if it exits non-zero."""
    result = subprocess.run([sys.executable, "-m", "kraft.cli", *args], capture_output=True,
                            text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"kraft {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def parse_show(text: str) -> dict[str, list[dict[str, str]]]:
    """The tables of `kraft metadata show`: title -> rows as {column: cell}.

    Tables are a title line, a header line indented by two spaces, then rows;
    cells are separated by two or more spaces (no cell contains two spaces).
    """
    tables: dict[str, list[dict[str, str]]] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        title = lines[i]
        if title and not title.startswith(" ") and i + 1 < len(lines) \
                and lines[i + 1].startswith("  "):
            header = re.split(r"\s{2,}", lines[i + 1].strip())
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("  "):
                cells = re.split(r"\s{2,}", lines[i].strip())
                if cells != ["(none)"]:
                    rows.append(dict(zip(header, cells, strict=True)))
                i += 1
            tables[title] = rows
        else:
            i += 1
    return tables


def partition_dirs(data_dir: Path) -> set[str]:
    """Names of the partition directories in a log dir (metadata and doomed ones excluded)."""
    return {p.name for p in data_dir.iterdir()
            if p.is_dir() and p.name != METADATA_DIR and not p.name.endswith("-delete")}


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll `predicate` until true; fail naming `what` after a generous `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s: {what}")
        time.sleep(0.05)
