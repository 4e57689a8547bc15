"""`kraft transactions`: Kafka's kafka-transactions (KIP-664), flags, tables and messages.

    kraft transactions --bootstrap-server HOST:PORT[,...] [--command-config FILE]
        list [--duration-filter MS]
        describe --transactional-id ID
        describe-producers --topic T --partition P [--broker-id N]
        find-hanging (--broker-id N | --topic T [--partition P]) [--max-transaction-timeout MIN]
        abort --topic T --partition P (--start-offset O |
                                       --producer-id ID --producer-epoch E --coordinator-epoch C)

How it asks, as Kafka's admin client does:
- `list`: ListTransactions to every broker (each coordinator lists its own).
- `describe`: FindCoordinator (TRANSACTION) for the id, DescribeTransactions there.
- `describe-producers`: DescribeProducers to the partition's leader (or --broker-id).
- `find-hanging`: the partitions (of --topic, or with a replica on --broker-id),
  DescribeProducers for their open transactions whose last write is older than
  --max-transaction-timeout minutes; ListTransactions filtered on those producer
  ids gives their transactional ids, DescribeTransactions their coordinators'
  view. A transaction is hanging when no transactional id has its producer id,
  the coordinator does not know the id, or the coordinator's transaction does
  not include the partition (so no marker will ever come).
- `abort`: DescribeProducers finds the producer whose transaction starts at
  --start-offset (its id, epoch, coordinator epoch), then WriteTxnMarkers ABORT
  goes to the partition's leader, as Admin.abortTransaction.

Output is Kafka's (ToolsUtils.prettyPrintTable: each cell padded to its column's
widest and followed by a tab). Failures are one line on stderr, Kafka's wording,
exit 1. `--command-config FILE` takes the admin client's properties: the tool
connects with their security settings (TLS, SASL PLAIN or SCRAM; see
kraft.security.client_properties).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import trio
from kio.schema.describe_producers.v0 import request as describe_producers_v0
from kio.schema.describe_transactions.v0 import request as describe_txn_v0
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v4 import request as find_coordinator_v4
from kio.schema.list_transactions.v1 import request as list_txn_v1
from kio.schema.types import ProducerId, TopicName, TransactionalId
from kio.schema.write_txn_markers.v1 import request as markers_v1
from kio.static.primitive import i8, i16, i32, i64

from kraft.net.client import KafkaClient
from kraft.net.security import ClientSecurity
from kraft.tools.admin_client import (
    INT,
    LONG,
    RETRIABLE,
    SHORT,
    ExitOneParser,
    Partition,
    ToolAdmin,
    ToolError,
    fail,
    message,
    pretty_table,
    run_tool,
)
from kraft.tools.metadata_quorum import (
    TIMEOUT_S,
)
from kraft.tools.txn_schema import DescribeTransactionsResponse

TRANSACTION_KEY_TYPE = 1
def add_parsers(sub: argparse._SubParsersAction) -> None:
    tool = sub.add_parser(
        "transactions", help="transactional state, hanging transactions (Kafka's "
        "kafka-transactions)",
        description="This tool is used to analyze the transactional state of producers in "
                    "the cluster. It can be used to detect and recover from hanging "
                    "transactions.")
    tool.add_argument("--command-config", metavar="FILE",
                      help="property file containing configs to be passed to admin client")
    tool.add_argument("--bootstrap-server", metavar="host:port", required=True,
                      help="hostname and port for the broker to connect to, in the form "
                           "`host:port` (multiple comma-separated entries can be given)")
    tool.error = ExitOneParser.error.__get__(tool)
    commands = tool.add_subparsers(dest="txn_command", required=True, metavar="COMMAND",
                                   parser_class=ExitOneParser)
    listing = commands.add_parser("list", help="list transactions")
    listing.add_argument("--duration-filter", type=LONG,
                         help="Duration (in millis) to filter by: if < 0, all transactions will "
                              "be returned; otherwise, only transactions running longer than "
                              "this duration will be returned")
    describe = commands.add_parser("describe",
                                   help="describe the state of an active transactional-id")
    describe.add_argument("--transactional-id", required=True, help="transactional id")
    producers = commands.add_parser(
        "describe-producers", help="describe the states of active producers for a topic "
        "partition")
    producers.add_argument("--broker-id", type=INT, help="optional broker id to describe the "
                           "producer state on a specific replica")
    producers.add_argument("--topic", required=True, help="topic name")
    producers.add_argument("--partition", type=INT, required=True, help="partition number")
    abort = commands.add_parser("abort", help="abort a hanging transaction (requires "
                                "administrative privileges)")
    abort.add_argument("--topic", required=True, help="topic name")
    abort.add_argument("--partition", type=INT, required=True, help="partition number")
    abort.add_argument("--start-offset", type=LONG,
                       help="start offset of the transaction to abort")
    abort.add_argument("--producer-id", type=LONG, help="producer id")
    abort.add_argument("--producer-epoch", type=SHORT, help="producer epoch")
    abort.add_argument("--coordinator-epoch", type=INT, help="coordinator epoch")
    hanging = commands.add_parser("find-hanging", help="find hanging transactions")
    hanging.add_argument("--broker-id", type=INT,
                         help="broker id to search for hanging transactions")
    hanging.add_argument("--max-transaction-timeout", type=INT, default=15,
                         help="maximum transaction timeout in minutes to limit the scope of "
                              "the search (15 minutes by default)")
    hanging.add_argument("--topic", help="topic name to limit search to (required if "
                         "--partition is specified)")
    hanging.add_argument("--partition", type=INT, help="partition number")


def main(args: argparse.Namespace) -> int:
    return run_tool(args, lambda servers, security: trio.run(_run, servers, args, security))


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    partition: Partition
    producer: Any  # DescribeProducers ProducerState


class Admin(ToolAdmin):
    """The transaction calls of kafka-transactions' admin client."""

    async def describe_producers(self, partitions: list[Partition],
                                 broker_id: int | None) -> dict[Partition, Any]:
        """Active producers per partition, asking each partition's leader (or `broker_id`);
        ToolError with the first partition's error."""
        by_address: dict[tuple[str, int], list[Partition]] = {}
        for tp in partitions:
            address = await (self.broker(broker_id) if broker_id is not None
                             else self.leader(tp))
            by_address.setdefault(address, []).append(tp)
        result: dict[Partition, Any] = {}
        for address, group in by_address.items():
            topics: dict[str, list[int]] = {}
            for tp in group:
                topics.setdefault(tp.topic, []).append(tp.partition)
            response = await self.call(address, describe_producers_v0.DescribeProducersRequest(
                topics=tuple(describe_producers_v0.TopicRequest(
                    name=TopicName(name), partition_indexes=tuple(i32(p) for p in parts))
                    for name, parts in topics.items())))
            for topic in response.topics:
                for part in topic.partitions:
                    tp = Partition(topic.name, part.partition_index)
                    if part.error_code != ErrorCode.none:
                        raise ToolError(producers_error(tp, part.error_code, broker_id))
                    result[tp] = part.active_producers
        return result

    async def list_transactions(self, duration_filter: int = -1,
                                producer_ids: Sequence[int] = ()) -> dict[int, Any]:
        """Each broker's ListTransactions listing, by broker id."""
        await self.metadata([])
        request = list_txn_v1.ListTransactionsRequest(
            state_filters=(), producer_id_filters=tuple(ProducerId(p) for p in producer_ids),
            duration_filter=i64(duration_filter))
        listings: dict[int, Any] = {}
        for node_id, address in sorted(self._brokers.items()):
            response = await self.call(address, request)
            if response.error_code != ErrorCode.none:
                raise ToolError(message(response.error_code))
            listings[node_id] = response.transaction_states
        return listings

    async def describe_transaction(self, transactional_id: str) -> tuple[int, Any]:
        """(coordinator id, DescribeTransactions state) of one transactional id; ToolError
        with Kafka's message for an unknown id."""
        for _ in range(20):
            found = await self.any_broker(find_coordinator_v4.FindCoordinatorRequest(
                key_type=i8(TRANSACTION_KEY_TYPE), coordinator_keys=(transactional_id,)))
            (coordinator,) = found.coordinators
            if coordinator.error_code in RETRIABLE:
                await trio.sleep(0.25)
                continue
            if coordinator.error_code != ErrorCode.none:
                raise ToolError(message(coordinator.error_code))
            response = await self.call(
                (coordinator.host, coordinator.port),
                describe_txn_v0.DescribeTransactionsRequest(
                    transactional_ids=(TransactionalId(transactional_id),)),
                DescribeTransactionsResponse)
            (state,) = response.transaction_states
            if state.error_code in RETRIABLE:
                await trio.sleep(0.25)
                continue
            if state.error_code == ErrorCode.transactional_id_not_found:
                raise TransactionalIdNotFound(
                    f"DescribeTransactions request for transactionalId `{transactional_id}` "
                    "failed because the ID could not be found")
            if state.error_code != ErrorCode.none:
                raise ToolError(message(state.error_code))
            return coordinator.node_id, state
        raise ToolError(f"the coordinator of transactional id `{transactional_id}` is not "
                        "available")

    async def abort(self, partition: Partition, producer_id: int, producer_epoch: int,
                    coordinator_epoch: int) -> None:
        """Admin.abortTransaction: WriteTxnMarkers ABORT to the partition's leader."""
        spec = (f"AbortTransactionSpec(topicPartition={partition}, producerId={producer_id}, "
                f"producerEpoch={producer_epoch}, coordinatorEpoch={coordinator_epoch})")
        request = markers_v1.WriteTxnMarkersRequest(markers=(markers_v1.WritableTxnMarker(
            producer_id=ProducerId(producer_id), producer_epoch=i16(producer_epoch),
            transaction_result=False, coordinator_epoch=i32(coordinator_epoch),
            topics=(markers_v1.WritableTxnMarkerTopic(
                name=TopicName(partition.topic),
                partition_indexes=(i32(partition.partition),)),)),))
        for _ in range(20):
            response = await self.call(await self.leader(partition), request)
            code = response.markers[0].topics[0].partitions[0].error_code
            if code == ErrorCode.none:
                return
            if code in (ErrorCode.not_leader_or_follower, ErrorCode.replica_not_available,
                        ErrorCode.broker_not_available, ErrorCode.unknown_topic_or_partition):
                await trio.sleep(0.25)
                continue
            cause = {
                ErrorCode.cluster_authorization_failed:
                    f"WriteTxnMarkers request with {spec} failed due to cluster authorization "
                    "error",
                ErrorCode.invalid_producer_epoch:
                    f"WriteTxnMarkers request with {spec} failed due an invalid producer epoch",
                ErrorCode.transaction_coordinator_fenced:
                    f"WriteTxnMarkers request with {spec} failed since the provided "
                    f"coordinator epoch {coordinator_epoch} has been fenced by the active "
                    "coordinator",
            }.get(code, f"WriteTxnMarkers request with {spec} failed due to unexpected "
                        f"error: {message(code)}")
            fail(f"Failed to abort transaction {spec}", cause)
        fail(f"Failed to abort transaction {spec}",
             f"the leader of {partition} kept changing")


class TransactionalIdNotFound(ToolError):
    pass


def producers_error(tp: Partition, code: ErrorCode, broker_id: int | None) -> str:
    """Kafka's DescribeProducersHandler wording for a partition's error."""
    if code == ErrorCode.not_leader_or_follower and broker_id is not None:
        return f"Failed to describe active producers for partition {tp} on brokerId {broker_id}"
    if code == ErrorCode.topic_authorization_failed:
        return (f"Failed to describe active producers for partition {tp} due to authorization "
                f"failure on topic `{tp.topic}`")
    if code == ErrorCode.unknown_topic_or_partition:
        return message(code)
    return f"Failed to describe active producers for partition {tp} due to unexpected error"


async def _run(servers: list[tuple[str, int]], args: argparse.Namespace,
               security: ClientSecurity | None) -> list[str] | ToolError:
    """The command's output lines, or the error to tell (returned, not raised, so that
    the client's nursery does not wrap it in an exception group)."""
    async with KafkaClient("kraft-transactions", connect_timeout=TIMEOUT_S,
                           security=security) as client:
        try:
            return await _command(Admin(client, servers), args)
        except ToolError as e:
            return e


async def _command(admin: Admin, args: argparse.Namespace) -> list[str]:
    command = args.txn_command
    if command == "list":
        return await list_command(admin, args)
    if command == "describe":
        return await describe_command(admin, args)
    if command == "describe-producers":
        return await describe_producers_command(admin, args)
    if command == "abort":
        return await abort_command(admin, args)
    return await find_hanging_command(admin, args)




async def list_command(admin: Admin, args: argparse.Namespace) -> list[str]:
    try:
        listings = await admin.list_transactions(
            -1 if args.duration_filter is None else args.duration_filter)
    except ToolError as e:
        fail("Failed to list transactions", str(e))
    rows = [[t.transactional_id, str(node_id), str(t.producer_id), t.transaction_state]
            for node_id, states in listings.items() for t in states]
    return pretty_table(("TransactionalId", "Coordinator", "ProducerId", "TransactionState"),
                        rows)


async def describe_command(admin: Admin, args: argparse.Namespace) -> list[str]:
    txn_id = args.transactional_id
    try:
        coordinator_id, state = await admin.describe_transaction(txn_id)
    except ToolError as e:
        fail(f"Failed to describe transaction state of transactional-id `{txn_id}`", str(e))
    if state.transaction_start_time_ms >= 0:
        start = str(state.transaction_start_time_ms)
        duration = str(int(time.time() * 1000) - state.transaction_start_time_ms)
    else:
        start = duration = "None"
    partitions = ",".join(str(Partition(t.topic, p)) for t in state.topics for p in t.partitions)
    return pretty_table(
        ("CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
         "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs",
         "TopicPartitions"),
        [[str(coordinator_id), txn_id, str(state.producer_id), str(state.producer_epoch),
          state.transaction_state, str(state.transaction_timeout_ms), start, duration,
          partitions]])


async def describe_producers_command(admin: Admin, args: argparse.Namespace) -> list[str]:
    tp = Partition(args.topic, args.partition)
    try:
        producers = (await admin.describe_producers([tp], args.broker_id))[tp]
    except ToolError as e:
        where = "leader" if args.broker_id is None else f"broker {args.broker_id}"
        fail(f"Failed to describe producers for partition {tp} on {where}", str(e))
    rows = [[str(p.producer_id), str(p.producer_epoch), str(p.coordinator_epoch),
             str(p.last_sequence), str(p.last_timestamp),
             str(p.current_txn_start_offset) if p.current_txn_start_offset >= 0 else "None"]
            for p in producers]
    return pretty_table(("ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence",
                         "LastTimestamp", "CurrentTransactionStartOffset"), rows)


async def abort_command(admin: Admin, args: argparse.Namespace) -> list[str]:
    tp = Partition(args.topic, args.partition)
    if args.start_offset is None and args.producer_id is None:
        fail("The transaction to abort must be identified either with --start-offset (for "
             "brokers on 3.0 or above) or with --producer-id, --producer-epoch, and "
             "--coordinator-epoch (for older brokers)")
    if args.start_offset is None:
        if args.producer_epoch is None:
            fail("Missing required argument --producer-epoch")
        if args.coordinator_epoch is None:
            fail("Missing required argument --coordinator-epoch")
        # -1 (a producer that hung before its first marker): 0 is <= any real epoch.
        await admin.abort(tp, args.producer_id, args.producer_epoch,
                          max(args.coordinator_epoch, 0))
        return []
    try:
        producers = (await admin.describe_producers([tp], None))[tp]
    except ToolError as e:
        fail(f"Failed to validate producer state for partition {tp}", str(e))
    found = next((p for p in producers if p.current_txn_start_offset >= 0
                  and p.current_txn_start_offset == args.start_offset), None)
    if found is None:
        fail(f"Could not find any open transactions starting at offset {args.start_offset} "
             f"on partition {tp}")
    # Kafka's coordinatorEpoch().orElse(0): DescribeProducers answers -1 for none.
    await admin.abort(tp, found.producer_id, found.producer_epoch,
                      max(found.coordinator_epoch, 0))
    return []


async def find_hanging_command(admin: Admin, args: argparse.Namespace) -> list[str]:
    if args.topic is None and args.broker_id is None:
        fail("The `find-hanging` command requires either --topic or --broker-id to limit the "
             "scope of the search")
    if args.partition is not None and args.topic is None:
        fail("The --partition argument requires --topic to be provided")
    max_timeout_ms = args.max_transaction_timeout * 60_000
    partitions = await partitions_to_search(admin, args.topic, args.partition, args.broker_id)
    candidates: list[OpenTransaction] = []
    try:
        described = await admin.describe_producers(partitions, args.broker_id)
    except ToolError as e:
        fail(f"Failed to describe producers for {len(partitions)} partitions on broker "
             f"{'Optional.empty' if args.broker_id is None else f'Optional[{args.broker_id}]'}",
             str(e))
    now_ms = int(time.time() * 1000)
    for tp, producers in described.items():
        candidates.extend(OpenTransaction(tp, p) for p in producers
                          if p.current_txn_start_offset >= 0
                          and now_ms - p.last_timestamp > max_timeout_ms)
    hanging = await filter_hanging(admin, candidates) if candidates else []
    now_ms = int(time.time() * 1000)
    rows = [[t.partition.topic, str(t.partition.partition), str(t.producer.producer_id),
             str(t.producer.producer_epoch), str(t.producer.coordinator_epoch),
             str(t.producer.current_txn_start_offset), str(t.producer.last_timestamp),
             str((now_ms - t.producer.last_timestamp) // 60_000)] for t in hanging]
    return pretty_table(("Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch",
                         "StartOffset", "LastTimestamp", "Duration(min)"), rows)


async def partitions_to_search(admin: Admin, topic: str | None, partition: int | None,
                               broker_id: int | None) -> list[Partition]:
    """The partitions of `topic` (or of every topic, internal ones too) with a replica on
    `broker_id` when given; just (topic, partition) when both are given."""
    if topic is not None and partition is not None:
        return [Partition(topic, partition)]
    try:
        response = await admin.metadata(None if topic is None else [topic])
    except ToolError as e:
        fail("Failed to list topics" if topic is None else "Failed to describe 1 topics",
             str(e))
    found: list[Partition] = []
    for t in response.topics:
        if t.error_code != ErrorCode.none:
            fail(f"Failed to describe {len(response.topics)} topics", message(t.error_code))
        found.extend(Partition(t.name, p.partition_index) for p in t.partitions
                     if broker_id is None or broker_id in p.replica_nodes)
    return sorted(found, key=lambda tp: (tp.topic, tp.partition))


async def filter_hanging(admin: Admin, candidates: list[OpenTransaction]) -> list[OpenTransaction]:
    """Kafka's filterHangingTransactions: open transactions the coordinators will never end."""
    producer_ids = sorted({t.producer.producer_id for t in candidates})
    try:
        listings = await admin.list_transactions(producer_ids=producer_ids)
    except ToolError as e:
        fail(f"Failed to list transactions for {len(producer_ids)} producers", str(e))
    transactional_ids = {t.producer_id: t.transactional_id
                         for states in listings.values() for t in states
                         if t.producer_id in producer_ids}
    descriptions: dict[str, Any] = {}
    for txn_id in sorted(set(transactional_ids.values())):
        try:
            descriptions[txn_id] = (await admin.describe_transaction(txn_id))[1]
        except TransactionalIdNotFound:
            descriptions[txn_id] = None
        except ToolError as e:
            fail(f"Failed to describe {len(set(transactional_ids.values()))} transactions",
                 str(e))
    hanging = []
    for candidate in candidates:
        txn_id = transactional_ids.get(candidate.producer.producer_id)
        description = descriptions.get(txn_id) if txn_id is not None else None
        if description is None or candidate.partition not in {
                Partition(t.topic, p) for t in description.topics for p in t.partitions}:
            hanging.append(candidate)
    return hanging
