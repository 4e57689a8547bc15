"""`kraft reassign-partitions`: Kafka's kafka-reassign-partitions, its JSON, flags and messages.

    kraft reassign-partitions --bootstrap-server HOST:PORT[,...] [--command-config FILE]
        --generate --topics-to-move-json-file FILE --broker-list 1,2,3
        --execute --reassignment-json-file FILE [--additional]
        --verify --reassignment-json-file FILE
        --cancel --reassignment-json-file FILE
        --list

The files are Kafka's: `{"version":1,"topics":[{"topic":"t"}]}` for --generate,
and `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3],
"log_dirs":["any","any","any"]}]}` for the others (log_dirs optional), so a plan
written by one tool runs with the other.

- `--generate` prints the current assignment of the topics and a proposal over
  --broker-list: Kafka's rack-unaware round robin (each topic keeps its
  replication factor; start and shift drawn at random, as Kafka does).
- `--execute` prints the current assignment (to save for a rollback) and asks
  AlterPartitionReassignments; refused while another reassignment is in flight
  unless --additional, and for broker ids the cluster does not know. With
  `--throttle B` it first sets Kafka's throttles (kraft.broker.replication_quota):
  `leader/follower.replication.throttled.rate` = B on every broker the moves
  involve, `leader.replication.throttled.replicas` = each moving partition's
  present replicas and `follower.replication.throttled.replicas` = its new ones.
- `--verify` says of each partition whether its reassignment is done (its
  replicas are the target) or still in progress (ListPartitionReassignments);
  once none is in flight it clears the throttles (unless --preserve-throttles).
- `--cancel` cancels those of the file still in flight.
- `--list` shows every reassignment in flight with its adding and removing replicas.

Not built, refused in one line: `--replica-alter-log-dirs-throttle` and `log_dirs`
other than "any" (moving a replica between a broker's log directories).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import trio
from kio.schema.alter_partition_reassignments.v0 import request as alter_v0
from kio.schema.errors import ErrorCode
from kio.schema.incremental_alter_configs.v1 import request as iac_v1
from kio.schema.list_partition_reassignments.v0 import request as list_v0
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i8, i32, i32Timedelta

from kraft.controller.topics import place_replicas
from kraft.net.client import KafkaClient
from kraft.net.security import ClientSecurity
from kraft.tools.admin_client import (
    MESSAGES,
    ExitOneParser,
    Partition,
    ToolAdmin,
    ToolError,
    run_tool,
)
from kraft.tools.metadata_quorum import TIMEOUT_S

ANY_LOG_DIR = "any"
ACTIONS = ("generate", "execute", "verify", "cancel", "list")
EXISTING = ("Cannot execute because there is an existing partition assignment.  Use "
            "--additional to override this and create a new partition assignment in addition "
            "to the existing one. The --additional flag can also be used to change the "
            "throttle by resubmitting the current reassignment.")
VERIFY_WARNING = ("Warning: You must run --verify periodically, until the reassignment "
                  "completes, to ensure the throttle is removed.")
NO_LOG_DIR_MOVES = ("--replica-alter-log-dirs-throttle: moving replicas between log directories "
                    "is not supported by kraft")
BROKER_THROTTLES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate",
                    "replica.alter.log.dirs.io.max.bytes.per.second")
TOPIC_THROTTLES = ("leader.replication.throttled.replicas",
                   "follower.replication.throttled.replicas")
BROKER_RESOURCE, TOPIC_RESOURCE = 4, 2
SET, DELETE = 0, 1

Assignment = dict[Partition, list[int]]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tool = sub.add_parser(
        "reassign-partitions", help="move partition replicas between brokers (Kafka's "
        "kafka-reassign-partitions)",
        description="This tool helps to move topic partitions between replicas.")
    tool.error = ExitOneParser.error.__get__(tool)
    tool.add_argument("--bootstrap-server", metavar="host:port", required=True,
                      help="the server(s) to use for bootstrapping")
    tool.add_argument("--command-config", metavar="FILE",
                      help="property file containing configs to be passed to Admin Client")
    for action in ACTIONS:
        tool.add_argument(f"--{action}", action="store_true",
                          help=f"the --{action} action (see the tool's description)")
    tool.add_argument("--topics-to-move-json-file", metavar="FILE",
                      help="generate a reassignment for the topics in this JSON file")
    tool.add_argument("--broker-list", metavar="1,2,3",
                      help="the brokers to which the partitions should be reassigned")
    tool.add_argument("--reassignment-json-file", metavar="FILE",
                      help="the JSON file with the partition reassignment configuration")
    tool.add_argument("--additional", action="store_true",
                      help="execute this reassignment in addition to any other ongoing ones")
    tool.add_argument("--disable-rack-aware", action="store_true",
                      help="disable rack aware replica assignment (kraft's is rack-unaware)")
    tool.add_argument("--preserve-throttles", action="store_true",
                      help="do not modify broker or topic throttles")
    tool.add_argument("--throttle", type=int, default=-1, metavar="BYTES/S",
                      help="the movement of partitions between brokers will be throttled to "
                           "this value (bytes/sec)")
    tool.add_argument("--replica-alter-log-dirs-throttle", type=int, metavar="BYTES/S",
                      help="not supported by kraft (refused)")
    tool.add_argument("--timeout", type=int, default=10000, metavar="MS",
                      help="the maximum time in ms to wait for the reassignment to begin")


def main(args: argparse.Namespace) -> int:
    return run_tool(args, lambda servers, security: trio.run(
        _run, servers, _action(args), args, security))


def _action(args: argparse.Namespace) -> str:
    chosen = [a for a in ACTIONS if getattr(args, a)]
    if len(chosen) != 1:
        raise ToolError("Command must include exactly one action: --generate, --execute, "
                        "--verify, --cancel, or --list")
    if args.replica_alter_log_dirs_throttle is not None:
        raise ToolError(NO_LOG_DIR_MOVES)
    needs = {"generate": ("topics_to_move_json_file", "broker_list"),
             "execute": ("reassignment_json_file",), "verify": ("reassignment_json_file",),
             "cancel": ("reassignment_json_file",), "list": ()}[chosen[0]]
    for flag in needs:
        if getattr(args, flag) is None:
            raise ToolError(f"Missing required argument \"[{flag.replace('_', '-')}]\"")
    return chosen[0]


# --- Kafka's JSON ------------------------------------------------------------------


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise ToolError(f"{path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise ToolError("The input string is not a valid JSON") from None


def _version(data: Any) -> None:
    version = data.get("version", 1) if isinstance(data, dict) else None
    if version != 1:
        raise ToolError(f"Not supported version field value {version}")


def parse_topics(data: Any) -> list[str]:
    """The topics of a --topics-to-move-json-file, duplicates refused as Kafka does."""
    _version(data)
    try:
        topics = [str(t["topic"]) for t in data.get("topics", [])]
    except (TypeError, KeyError):
        raise ToolError("each entry of \"topics\" needs a \"topic\"") from None
    duplicates = sorted({t for t in topics if topics.count(t) > 1})
    if duplicates:
        raise ToolError("List of topics to reassign contains duplicate entries: "
                        + ",".join(duplicates))
    return topics


def parse_reassignment(data: Any) -> Assignment:
    """The target replicas of a --reassignment-json-file, checked as Kafka's
    parseExecuteAssignmentArgs checks them."""
    _version(data)
    parts: list[tuple[Partition, list[int]]] = []
    try:
        for entry in data.get("partitions", []):
            tp = Partition(str(entry["topic"]), int(entry["partition"]))
            replicas = [int(r) for r in entry["replicas"]]
            log_dirs = entry.get("log_dirs", [ANY_LOG_DIR] * len(replicas))
            if len(log_dirs) != len(replicas):
                raise ToolError(f"Size of replicas list {_java_list(replicas)} is different "
                                f"from size of log dirs list {_java_list(log_dirs)} for "
                                f"partition {tp}")
            if any(d != ANY_LOG_DIR for d in log_dirs):
                raise ToolError(f"{tp}: moving a replica between log directories is not "
                                f"supported by kraft; use \"any\" in log_dirs")
            parts.append((tp, replicas))
    except (TypeError, KeyError, ValueError):
        raise ToolError("each entry of \"partitions\" needs \"topic\", \"partition\" and "
                        "\"replicas\"") from None
    if not parts:
        raise ToolError("Partition reassignment list cannot be empty")
    if any(not replicas for _, replicas in parts):
        raise ToolError("Partition replica list cannot be empty")
    seen = [tp for tp, _ in parts]
    duplicated = sorted({tp for tp in seen if seen.count(tp) > 1}, key=_order)
    if duplicated:
        raise ToolError("Partition reassignment contains duplicate topic partitions: "
                        + ",".join(map(str, duplicated)))
    repeated = [f"{tp} contains multiple entries for "
                f"{','.join(str(r) for r in sorted({r for r in rs if rs.count(r) > 1}))}"
                for tp, rs in parts if len(set(rs)) != len(rs)]
    if repeated:
        raise ToolError("Partition replica lists may not contain duplicate entries: "
                        + ". ".join(repeated))
    return dict(parts)


def format_reassignment(assignment: Assignment) -> str:
    """Kafka's formatAsReassignmentJson: compact, partitions in topic-partition order."""
    return json.dumps({"version": 1, "partitions": [
        {"topic": tp.topic, "partition": tp.partition, "replicas": assignment[tp],
         "log_dirs": [ANY_LOG_DIR] * len(assignment[tp])}
        for tp in sorted(assignment, key=_order)]}, separators=(",", ":"))


def _order(tp: Partition) -> tuple[str, int]:
    return (tp.topic, tp.partition)


def _message(code: ErrorCode) -> str:
    return MESSAGES.get(code, code.name.upper())


def _java_list(items: Sequence[object]) -> str:
    return "[" + ", ".join(map(str, items)) + "]"


def propose(current: Assignment, brokers: Sequence[int],
            rng: random.Random | None = None) -> Assignment:
    """Kafka's calculateAssignment: each topic's partitions placed anew over `brokers`
    with its present replication factor (rack-unaware round robin)."""
    rng = rng or random.Random()
    proposed: Assignment = {}
    for topic in sorted({tp.topic for tp in current}):
        parts = sorted((tp for tp in current if tp.topic == topic), key=_order)
        factor = len(current[parts[0]])
        if factor > len(brokers):
            raise ToolError(f"Replication factor: {factor} larger than available brokers: "
                            f"{len(brokers)}.")
        for tp, replicas in zip(parts, place_replicas(brokers, 0, len(parts), factor, rng),
                                strict=True):
            proposed[tp] = list(replicas)
    return proposed


# --- the admin calls ---------------------------------------------------------------


class Admin(ToolAdmin):
    """The reassignment calls of kafka-reassign-partitions' admin client."""

    async def assignment(self, topics: Sequence[str]) -> Assignment:
        """Each partition's replicas; Kafka's message for a topic that does not exist."""
        response = await self.metadata(list(topics))
        out: Assignment = {}
        for topic in response.topics:
            if topic.error_code == ErrorCode.unknown_topic_or_partition:
                raise ToolError(f"Topic {topic.name} not found")
            if topic.error_code != ErrorCode.none:
                raise ToolError(f"{topic.name}: {_message(topic.error_code)}")
            for p in topic.partitions:
                out[Partition(str(topic.name), int(p.partition_index))] = [
                    int(r) for r in p.replica_nodes]
        return out

    async def broker_ids(self) -> set[int]:
        return {int(b.node_id) for b in (await self.metadata([])).brokers}

    async def ongoing(self, partitions: Sequence[Partition] | None = None) -> dict[Partition, Any]:
        """ListPartitionReassignments: the reassignments in flight (of `partitions`)."""
        topics = None
        if partitions is not None:
            names = sorted({tp.topic for tp in partitions})
            topics = tuple(list_v0.ListPartitionReassignmentsTopics(
                name=TopicName(n), partition_indexes=tuple(
                    i32(tp.partition) for tp in partitions if tp.topic == n)) for n in names)
        response = await self.any_broker(list_v0.ListPartitionReassignmentsRequest(
            timeout=i32Timedelta.parse(timedelta(seconds=TIMEOUT_S)), topics=topics))
        if response.error_code != ErrorCode.none:
            raise ToolError(response.error_message or _message(response.error_code))
        return {Partition(str(t.name), int(p.partition_index)): p
                for t in response.topics for p in t.partitions}

    async def alter(self, targets: dict[Partition, list[int] | None]) -> dict[Partition, str]:
        """AlterPartitionReassignments (None cancels); the error message per partition."""
        names = sorted({tp.topic for tp in targets})
        request = alter_v0.AlterPartitionReassignmentsRequest(
            timeout=i32Timedelta.parse(timedelta(seconds=TIMEOUT_S)), topics=tuple(
                alter_v0.ReassignableTopic(name=TopicName(n), partitions=tuple(
                    alter_v0.ReassignablePartition(
                        partition_index=i32(tp.partition),
                        replicas=None if r is None else tuple(BrokerId(b) for b in r))
                    for tp, r in sorted(targets.items(), key=lambda e: _order(e[0]))
                    if tp.topic == n))
                for n in names))
        response = await self.any_broker(request)
        if response.error_code != ErrorCode.none:
            raise ToolError(response.error_message or _message(response.error_code))
        return {Partition(str(t.name), int(p.partition_index)):
                p.error_message or _message(p.error_code)
                for t in response.responses for p in t.partitions
                if p.error_code != ErrorCode.none}


    async def alter_configs(self, address: tuple[str, int] | None, resources: list[Any]) -> None:
        """IncrementalAlterConfigs (to `address`, else any broker); ToolError on a refusal."""
        request = iac_v1.IncrementalAlterConfigsRequest(resources=tuple(resources),
                                                        validate_only=False)
        response = (await self.any_broker(request) if address is None
                    else await self.call(address, request))
        for r in response.responses:
            if r.error_code != ErrorCode.none:
                raise ToolError(f"{r.resource_name}: "
                                f"{r.error_message or _message(r.error_code)}")

    async def set_throttles(self, moves: dict[Partition, tuple[list[int], list[int]]],
                            rate: int) -> None:
        """Kafka's modifyReassignmentThrottle: topic throttles from the moves, the
        rate on every broker they involve."""
        topics = []
        for topic in sorted({tp.topic for tp in moves}):
            mine = {tp: m for tp, m in moves.items() if tp.topic == topic}
            leaders = sorted({f"{tp.partition}:{b}" for tp, (src, _) in mine.items() for b in src})
            followers = sorted({f"{tp.partition}:{b}" for tp, (src, dst) in mine.items()
                                for b in dst if b not in src})
            topics.append(_resource(TOPIC_RESOURCE, topic, [
                (TOPIC_THROTTLES[0], ",".join(leaders), SET),
                (TOPIC_THROTTLES[1], ",".join(followers), SET)]))
        await self.alter_configs(None, topics)
        for broker in sorted({b for src, dst in moves.values() for b in (*src, *dst)}):
            await self.alter_configs(await self.broker(broker), [_resource(
                BROKER_RESOURCE, str(broker),
                [(BROKER_THROTTLES[0], str(rate), SET), (BROKER_THROTTLES[1], str(rate), SET)])])

    async def clear_throttles(self, brokers: set[int], topics: set[str]) -> None:
        """Kafka's clearAllThrottles (without its printing)."""
        for broker in sorted(brokers):
            await self.alter_configs(await self.broker(broker), [_resource(
                BROKER_RESOURCE, str(broker), [(k, None, DELETE) for k in BROKER_THROTTLES])])
        await self.alter_configs(None, [
            _resource(TOPIC_RESOURCE, t, [(k, None, DELETE) for k in TOPIC_THROTTLES])
            for t in sorted(topics)])


def _resource(kind: int, name: str, ops: list[tuple[str, str | None, int]]) -> Any:
    return iac_v1.AlterConfigsResource(
        resource_type=i8(kind), resource_name=name, configs=tuple(
            iac_v1.AlterableConfig(name=k, config_operation=i8(op), value=v)
            for k, v, op in ops))


async def _run(servers: list[tuple[str, int]], action: str, args: argparse.Namespace,
               security: ClientSecurity | None) -> list[str] | ToolError:
    async with KafkaClient("kraft-reassign-partitions", connect_timeout=TIMEOUT_S,
                           security=security) as client:
        admin = Admin(client, servers)
        try:
            if action == "generate":
                return await generate(admin, args)
            if action == "execute":
                return await execute(admin, args)
            if action == "verify":
                return await verify(admin, args)
            if action == "cancel":
                return await cancel(admin, args)
            return await list_ongoing(admin)
        except ToolError as e:
            return e


async def generate(admin: Admin, args: argparse.Namespace) -> list[str]:
    try:
        brokers = [int(b) for b in args.broker_list.split(",")]
    except ValueError:
        raise ToolError(f"For input string: \"{args.broker_list}\"") from None
    duplicates = sorted({b for b in brokers if brokers.count(b) > 1})
    if duplicates:
        raise ToolError("Broker list contains duplicate entries: "
                        + ",".join(map(str, duplicates)))
    topics = parse_topics(_read_json(args.topics_to_move_json_file))
    known = await admin.broker_ids()
    unknown = [b for b in brokers if b not in known]
    if unknown:
        raise ToolError(f"Unknown broker id {unknown[0]}")
    current = await admin.assignment(topics)
    proposed = propose(current, sorted(brokers))
    return ["Current partition replica assignment", format_reassignment(current), "",
            "Proposed partition reassignment configuration", format_reassignment(proposed)]


async def execute(admin: Admin, args: argparse.Namespace) -> list[str]:
    targets = parse_reassignment(_read_json(args.reassignment_json_file))
    if not args.additional and await admin.ongoing():
        raise ToolError(EXISTING)
    known = await admin.broker_ids()
    unknown = next((b for rs in targets.values() for b in rs if b not in known), None)
    if unknown is not None:
        raise ToolError(f"Unknown broker id {unknown}")
    current = await admin.assignment(sorted({tp.topic for tp in targets}))
    missing = [tp for tp in targets if tp not in current]
    if missing:
        raise ToolError(f"Unable to find partition: {missing[0]}")
    lines = ["Current partition replica assignment", "",
             format_reassignment({tp: current[tp] for tp in targets}), "",
             "Save this to use as the --reassignment-json-file option during rollback"]
    if args.throttle >= 0:
        lines.append(VERIFY_WARNING)
        await admin.set_throttles({tp: (current[tp], targets[tp]) for tp in targets},
                                  args.throttle)
        lines.append(f"The inter-broker throttle limit was set to {args.throttle} B/s")
    errors = await admin.alter(dict(targets))
    if errors:
        raise ToolError("\n".join([*lines, "Error reassigning partition(s):", *(
            f"{tp}: {errors[tp]}" for tp in sorted(errors, key=_order))]))
    names = ",".join(str(tp) for tp in sorted(targets, key=_order))
    return [*lines, f"Successfully started partition reassignment"
                    f"{'' if len(targets) == 1 else 's'} for {names}"]


async def verify(admin: Admin, args: argparse.Namespace) -> list[str]:
    targets = parse_reassignment(_read_json(args.reassignment_json_file))
    ongoing = await admin.ongoing()
    current = await admin.assignment(sorted({tp.topic for tp in targets}))
    lines = ["Status of partition reassignment:"]
    for tp in sorted(targets, key=_order):
        if tp in ongoing:
            lines.append(f"Reassignment of partition {tp} is still in progress.")
        elif current.get(tp) == targets[tp]:
            lines.append(f"Reassignment of partition {tp} is completed.")
        else:
            lines.append(f"There is no active reassignment of partition {tp}, but replica set "
                         f"is {','.join(map(str, current.get(tp, [])))} rather than "
                         f"{','.join(map(str, targets[tp]))}.")
    if not ongoing and not args.preserve_throttles:
        # Kafka clears every throttle once nothing is in flight: it cannot know which
        # brokers earlier reassignments involved.
        brokers = await admin.broker_ids() | {b for rs in targets.values() for b in rs}
        topics = {tp.topic for tp in targets}
        lines.append(f"Clearing broker-level throttles on broker{'' if len(brokers) == 1 else 's'}"
                     f" {','.join(map(str, sorted(brokers)))}")
        lines.append(f"Clearing topic-level throttles on topic{'' if len(topics) == 1 else 's'}"
                     f" {','.join(sorted(topics))}")
        await admin.clear_throttles(brokers, topics)
    return lines


async def cancel(admin: Admin, args: argparse.Namespace) -> list[str]:
    targets = parse_reassignment(_read_json(args.reassignment_json_file))
    ongoing = await admin.ongoing(sorted(targets, key=_order))
    if not ongoing:
        return ["None of the specified partition reassignments are active."]
    errors = await admin.alter(dict.fromkeys(ongoing))
    if errors:
        raise ToolError("\n".join([f"Error cancelling partition reassignment"
                                   f"{'' if len(errors) == 1 else 's'} for:", *(
            f"{tp}: {errors[tp]}" for tp in sorted(errors, key=_order))]))
    names = ",".join(str(tp) for tp in sorted(ongoing, key=_order))
    return [f"Successfully cancelled partition reassignment"
            f"{'' if len(ongoing) == 1 else 's'} for: {names}"]


async def list_ongoing(admin: Admin) -> list[str]:
    ongoing = await admin.ongoing()
    if not ongoing:
        return ["No partition reassignments found."]
    lines = ["Current partition reassignments:"]
    for tp in sorted(ongoing, key=_order):
        r = ongoing[tp]
        adding = f" adding: {','.join(map(str, r.adding_replicas))}." if r.adding_replicas else ""
        removing = (f" removing: {','.join(map(str, r.removing_replicas))}."
                    if r.removing_replicas else "")
        lines.append(f"{tp}: replicas: {','.join(map(str, r.replicas))}.{adding}{removing}")
    return lines
