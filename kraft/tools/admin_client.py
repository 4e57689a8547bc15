"""What kraft's admin tools share: one-line errors in Kafka's words, Kafka's
table and flag types, and the few admin-client calls over one KafkaClient.

Kafka's tools (kafka-transactions, kafka-reassign-partitions, ...) print a
failure as one line on stderr and exit 1; `ToolError` carries that line.
`ToolAdmin` asks the bootstrap servers in turn, as Kafka's admin client does,
and turns a connection failure or time-out into a ToolError naming the
server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import trio
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12 import request as metadata_v12
from kio.schema.types import TopicName

from kraft.config_keys import ConfigError
from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.net.security import ClientSecurity
from kraft.security.client_properties import UnreadableProperties, command_config_security
from kraft.tools.metadata_quorum import (
    TIMEOUT_S,
    QuorumToolError,
    parse_servers,
    quiet_client_log,
)

DEBUG_HINT = " Enable debug logging for additional detail."
# Kafka's Errors messages for the codes these APIs answer (Errors.java).
MESSAGES = {
    ErrorCode.unknown_server_error: "The server experienced an unexpected error when "
                                    "processing the request.",
    ErrorCode.unknown_topic_or_partition: "This server does not host this topic-partition.",
    ErrorCode.not_leader_or_follower: "For requests intended only for the leader, this error "
        "indicates that the broker is not the current leader. For requests intended for any "
        "replica, this error indicates that the broker is not a replica of the topic partition.",
    ErrorCode.coordinator_load_in_progress: "The coordinator is loading and hence can't "
                                            "process requests.",
    ErrorCode.coordinator_not_available: "The coordinator is not available.",
    ErrorCode.not_coordinator: "This is not the correct coordinator.",
    ErrorCode.topic_authorization_failed: "Topic authorization failed.",
    ErrorCode.cluster_authorization_failed: "Cluster authorization failed.",
    ErrorCode.invalid_txn_state: "The producer attempted a transactional operation in an "
                                 "invalid state.",
    ErrorCode.transactional_id_authorization_failed: "Transactional Id authorization failed.",
    ErrorCode.kafka_storage_error: "Disk error when trying to access log file on the disk.",
    ErrorCode.not_enough_replicas: "Messages are rejected since there are fewer in-sync "
                                   "replicas than required.",
    ErrorCode.invalid_topic_exception: "The request attempted to perform an operation on an "
                                       "invalid topic.",
    ErrorCode.invalid_request: "This most likely occurs because of a request being malformed "
        "by the client library or the message was sent to an incompatible broker. See the "
        "broker logs for more details.",
}
RETRIABLE = {ErrorCode.coordinator_load_in_progress, ErrorCode.coordinator_not_available,
             ErrorCode.not_coordinator, ErrorCode.not_leader_or_follower,
             ErrorCode.not_enough_replicas}


class ToolError(Exception):
    """What the tool tells the person, in one line (exit 1)."""


def fail(message: str, cause: str | None = None) -> NoReturn:
    """Kafka's printErrorAndExit: with a cause, "<message>: <cause>. Enable debug ..."."""
    raise ToolError(message if cause is None else f"{message}: {cause}.{DEBUG_HINT}")


def message(code: ErrorCode) -> str:
    return MESSAGES.get(code, f"the server answered {code.name.upper()}")


def _java(bits: int) -> Any:
    """An argparse type for Java's signed `bits`-bit integers (Short, Integer, Long), as
    kafka-transactions' flags are typed."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"could not convert '{text}' to an integer") \
                from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range [{low}, {high}]")
        return value

    convert.__name__ = {16: "Short", 32: "Integer", 64: "Long"}[bits]
    return convert


SHORT, INT, LONG = _java(16), _java(32), _java(64)


class ExitOneParser(argparse.ArgumentParser):
    """Usage errors exit 1, as kafka-transactions does (argparse's own is 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def pretty_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Kafka's ToolsUtils.prettyPrintTable: cells padded to the column width, each
    followed by a tab."""
    rows = list(rows)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    return ["".join(cell.ljust(w) + "\t" for cell, w in zip(row, widths, strict=True))
            for row in [list(headers), *rows]]


@dataclass(frozen=True, slots=True)
class Partition:
    topic: str
    partition: int

    def __str__(self) -> str:  # Kafka's TopicPartition.toString
        return f"{self.topic}-{self.partition}"


def run_tool(args: Any, run: Callable[[list[tuple[str, int]], ClientSecurity | None],
                                      list[str] | Exception]) -> int:
    """A tool's main: the admin client's security from `--command-config`, the
    `--bootstrap-server` list, then `run(servers, security)` (which runs trio and
    returns the lines to print, or the error to tell). Lines go to stdout (exit 0);
    an error is one line on stderr (exit 1)."""
    quiet_client_log()
    try:
        try:
            security = command_config_security(args.command_config)
        except UnreadableProperties:
            fail("Failed to load admin client properties", args.command_config)
        lines = run(parse_servers(args.bootstrap_server), security)
    except (ToolError, QuorumToolError, ConfigError) as e:
        lines = e
    if isinstance(lines, Exception):
        print(lines, file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


class ToolAdmin:
    """The admin-client calls every tool needs, over one KafkaClient."""

    def __init__(self, client: KafkaClient, servers: list[tuple[str, int]]) -> None:
        self.client = client
        self.servers = servers
        self._brokers: dict[int, tuple[str, int]] = {}

    async def call(self, address: tuple[str, int], request: Any,
                   response_cls: Any = None) -> Any:
        try:
            with trio.fail_after(TIMEOUT_S * 3):
                return await self.client.request(address, request, TIMEOUT_S,
                                                 response_cls=response_cls)
        except (ConnectionFailed, trio.TooSlowError) as e:
            raise ToolError(f"{address[0]}:{address[1]} did not answer "
                            f"({e or 'timed out'})") from None

    async def metadata(self, topics: list[str] | None) -> Any:
        """Metadata from the first bootstrap server that answers (all topics for None)."""
        request = metadata_v12.MetadataRequest(
            topics=None if topics is None else tuple(
                metadata_v12.MetadataRequestTopic(topic_id=None, name=TopicName(t))
                for t in topics),
            allow_auto_topic_creation=False, include_topic_authorized_operations=False)
        response = await self.any_broker(request)
        self._brokers = {b.node_id: (b.host, b.port) for b in response.brokers}
        return response

    async def any_broker(self, request: Any) -> Any:
        """The answer of the first bootstrap server that answers."""
        failures = []
        for address in self.servers:
            try:
                return await self.call(address, request)
            except ToolError as e:
                failures.append(str(e))
        raise ToolError("no broker answered: " + "; ".join(failures))

    async def broker(self, node_id: int) -> tuple[str, int]:
        if node_id not in self._brokers:
            await self.metadata([])
        if node_id not in self._brokers:
            raise ToolError(f"broker {node_id} is not in the cluster's metadata")
        return self._brokers[node_id]

    async def leader(self, partition: Partition) -> tuple[str, int]:
        """The partition's leader; ToolError with Kafka's message when it is unknown."""
        for _ in range(20):
            response = await self.metadata([partition.topic])
            (topic,) = response.topics
            if topic.error_code not in (ErrorCode.none, *RETRIABLE):
                raise ToolError(message(topic.error_code))
            found = next((p for p in topic.partitions
                          if p.partition_index == partition.partition), None)
            if topic.error_code == ErrorCode.none and found is None:
                raise ToolError(message(ErrorCode.unknown_topic_or_partition))
            if found is not None and found.leader_id >= 0:
                return await self.broker(found.leader_id)
            await trio.sleep(0.25)
        raise ToolError(f"no leader for partition {partition}")
