"""Scenarios of topics and the cluster: Metadata, CreateTopics, DeleteTopics,
CreatePartitions, DescribeTopicPartitions, DescribeCluster, DescribeQuorum,
DescribeLogDirs, ElectLeaders, partition reassignments and the ACL APIs."""

from __future__ import annotations

from typing import Any

from tests.compat.differential.engine import ZERO, Ctx, scenario
from tests.compat.differential.scenarios_data import UNKNOWN_ID, topic_with

METADATA, CREATE_TOPICS, DELETE_TOPICS, CREATE_PARTITIONS = 3, 19, 20, 37
DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
DESCRIBE_LOG_DIRS, ELECT_LEADERS = 35, 43
ALTER_REASSIGNMENTS, LIST_REASSIGNMENTS = 45, 46
DESCRIBE_QUORUM, DESCRIBE_CLUSTER, DESCRIBE_TOPIC_PARTITIONS = 55, 60, 75
# The metadata log's offsets and the sizes on disk depend on what each
# implementation writes to it, not on the protocol.
QUORUM_RULES = ("any:*/high_watermark", "any:*/log_end_offset")


# ---------------------------------------------------------------- Metadata


def metadata_body(*names: str, auto_create: bool = False, by_id: bool = False,
                  auth_ops: bool = False, every_topic: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        topics: list[dict[str, Any]] | None
        if every_topic:
            topics = None if ctx.version >= 1 else []
        elif by_id:
            topics = [{"name": None, "topic_id": ctx.state.get("topic_id", UNKNOWN_ID)}]
        else:
            topics = [{"name": n.replace("{name}", ctx.name).replace("{v}", str(ctx.version)),
                       "topic_id": ZERO} for n in names]
        return {"topics": topics, "allow_auto_topic_creation": auto_create,
                "include_cluster_authorized_operations": auth_ops,
                "include_topic_authorized_operations": auth_ops}
    return body


scenario("metadata/known-topic", METADATA, metadata_body("{name}"), setup=topic_with(0, 2))
scenario("metadata/unknown-topic", METADATA, metadata_body("vs-no-such-topic"),
         versions=range(4, 14), note="allow_auto_topic_creation=false; v0-3 always ask "
         "for creation (metadata/auto-create)")
scenario("metadata/auto-create", METADATA, metadata_body("{name}-v{v}", auto_create=True),
         note="auto.create.topics.enable is true by default on both")
scenario("metadata/illegal-name-auto-create", METADATA,
         metadata_body("bad name!", auto_create=True))
scenario("metadata/by-topic-id", METADATA, metadata_body(by_id=True), setup=topic_with(0),
         versions=range(10, 14))
scenario("metadata/unknown-topic-id", METADATA, metadata_body(by_id=True),
         versions=range(10, 14))
scenario("metadata/authorized-operations", METADATA, metadata_body("{name}", auth_ops=True),
         setup=topic_with(0), versions=range(8, 14))
scenario("metadata/no-topics", METADATA, metadata_body(), versions=range(1, 14),
         note="an empty topic list (v1+: none; null is all)")
scenario("metadata/every-topic", METADATA, metadata_body(every_topic=True),
         rules=("drop:topics",), note="the topic list depends on the scenarios run before; "
         "brokers, controller and errors are compared")


# ---------------------------------------------------------------- CreateTopics


def create_body(name: str = "{name}-v{v}", partitions: int = 2, replication: int = 1,
                configs: dict[str, str] | None = None, assignments: list[Any] | None = None,
                validate_only: bool = False, twice: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        topic = {"name": name.replace("{name}", ctx.name).replace("{v}", str(ctx.version)),
                 "num_partitions": partitions, "replication_factor": replication,
                 "assignments": assignments or [],
                 "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}
        return {"topics": [topic, topic] if twice else [topic], "timeout": 30_000,
                "validate_only": validate_only}
    return body


DESCRIBED_CONFIGS = "map:topics/configs=name"
scenario("create-topics/ok", CREATE_TOPICS, create_body(configs={"retention.ms": "3600000"}),
         rules=(DESCRIBED_CONFIGS,))
scenario("create-topics/already-exists", CREATE_TOPICS, create_body("{name}"),
         setup=topic_with(0), rules=(DESCRIBED_CONFIGS,))
scenario("create-topics/validate-only", CREATE_TOPICS, create_body(validate_only=True),
         rules=(DESCRIBED_CONFIGS,))
scenario("create-topics/defaults", CREATE_TOPICS, create_body(partitions=-1, replication=-1),
         rules=(DESCRIBED_CONFIGS,), note="-1 partitions and replication factor (v4+)")
scenario("create-topics/manual-assignment", CREATE_TOPICS,
         create_body(partitions=-1, replication=-1, assignments=[
             {"partition_index": 0, "broker_ids": [1]}, {"partition_index": 1,
                                                        "broker_ids": [1]}]),
         rules=(DESCRIBED_CONFIGS,))
for label, topic_name in (("dot", "."), ("dot-dot", ".."), ("space", "bad name"),
                          ("too-long", "x" * 250), ("empty", "")):
    scenario(f"create-topics/illegal-name-{label}", CREATE_TOPICS, create_body(topic_name))
scenario("create-topics/colliding-name", CREATE_TOPICS, create_body("vs_collide-v{v}"),
         setup=lambda ctx: [ctx.create_topic(f"vs.collide-v{v}") for v in range(2, 8)],
         note="'.' and '_' collide in metric names")
scenario("create-topics/zero-partitions", CREATE_TOPICS, create_body(partitions=0))
scenario("create-topics/negative-partitions", CREATE_TOPICS, create_body(partitions=-5))
scenario("create-topics/replication-factor-3", CREATE_TOPICS, create_body(replication=3))
scenario("create-topics/replication-factor-0", CREATE_TOPICS, create_body(replication=0))
scenario("create-topics/unknown-config", CREATE_TOPICS,
         create_body(configs={"no.such.config": "1"}))
scenario("create-topics/invalid-config-value", CREATE_TOPICS,
         create_body(configs={"retention.ms": "soon"}))
scenario("create-topics/config-out-of-range", CREATE_TOPICS,
         create_body(configs={"min.insync.replicas": "0"}))
scenario("create-topics/bad-cleanup-policy", CREATE_TOPICS,
         create_body(configs={"cleanup.policy": "shred"}))
scenario("create-topics/assignment-unknown-broker", CREATE_TOPICS,
         create_body(partitions=-1, replication=-1,
                     assignments=[{"partition_index": 0, "broker_ids": [7]}]))
scenario("create-topics/assignment-with-partition-count", CREATE_TOPICS,
         create_body(partitions=2, replication=-1,
                     assignments=[{"partition_index": 0, "broker_ids": [1]}]))
scenario("create-topics/duplicate-in-request", CREATE_TOPICS, create_body(twice=True))
scenario("create-topics/internal-topic-name", CREATE_TOPICS,
         create_body("__transaction_state"))


# ---------------------------------------------------------------- DeleteTopics


def delete_body(name: str | None = "{name}-v{v}", by_id: bool = False,
                create: bool = True, both: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        topic = (name or "").replace("{name}", ctx.name).replace("{v}", str(ctx.version))
        topic_id = UNKNOWN_ID
        if create:
            topic_id = ctx.create_topic(topic)
        entry = {"name": topic if (both or not by_id) else None,
                 "topic_id": topic_id if (both or by_id) else ZERO}
        return {"topic_names": [topic], "topics": [entry], "timeout": 30_000}
    return body


scenario("delete-topics/ok", DELETE_TOPICS, delete_body())
scenario("delete-topics/unknown", DELETE_TOPICS, delete_body("vs-no-such-topic", create=False))
scenario("delete-topics/by-id", DELETE_TOPICS, delete_body(by_id=True), versions=[6])
scenario("delete-topics/unknown-id", DELETE_TOPICS,
         delete_body(None, by_id=True, create=False), versions=[6])
scenario("delete-topics/name-and-id", DELETE_TOPICS, delete_body(both=True), versions=[6])
scenario("delete-topics/internal", DELETE_TOPICS, delete_body("__consumer_offsets",
                                                             create=False),
         setup=lambda ctx: (ctx.create_topic(ctx.name), ctx.commit("vs-delete-internal",
                                                                   ctx.name, 0)),
         versions=[1], note="only v1: a broker that deletes it must not take more")


# ---------------------------------------------------------------- CreatePartitions


def partitions_body(count: Any, topic: str | None = None, assignments: Any = None,
                    validate_only: bool = False, twice: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        entry = {"name": topic if topic is not None else ctx.name,
                 "count": count(ctx) if callable(count) else count,
                 "assignments": assignments}
        return {"topics": [entry, entry] if twice else [entry], "timeout": 30_000,
                "validate_only": validate_only}
    return body


scenario("create-partitions/grow", CREATE_PARTITIONS,
         partitions_body(lambda ctx: ctx.version + 3), setup=topic_with(0, 2))
scenario("create-partitions/same-count", CREATE_PARTITIONS, partitions_body(2),
         setup=topic_with(0, 2))
scenario("create-partitions/shrink", CREATE_PARTITIONS, partitions_body(1),
         setup=topic_with(0, 2))
scenario("create-partitions/unknown-topic", CREATE_PARTITIONS,
         partitions_body(3, topic="vs-no-such-topic"))
scenario("create-partitions/validate-only", CREATE_PARTITIONS,
         partitions_body(5, validate_only=True), setup=topic_with(0, 2))
scenario("create-partitions/assignment-count-mismatch", CREATE_PARTITIONS,
         partitions_body(5, assignments=[{"broker_ids": [1]}]), setup=topic_with(0, 2))
scenario("create-partitions/assignment-unknown-broker", CREATE_PARTITIONS,
         partitions_body(3, assignments=[{"broker_ids": [9]}]), setup=topic_with(0, 2))
scenario("create-partitions/duplicate-in-request", CREATE_PARTITIONS,
         partitions_body(4, twice=True), setup=topic_with(0, 2))


# ---------------------------------------------------------------- DescribeTopicPartitions


def dtp_body(*names: str, limit: int = 2000, cursor: tuple[str, int] | None = None) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"topics": [{"name": n.replace("{name}", ctx.name)} for n in names],
                "response_partition_limit": limit,
                "cursor": None if cursor is None else
                {"topic_name": cursor[0].replace("{name}", ctx.name),
                 "partition_index": cursor[1]}}
    return body


scenario("describe-topic-partitions/known", DESCRIBE_TOPIC_PARTITIONS, dtp_body("{name}"),
         setup=topic_with(0, 3))
scenario("describe-topic-partitions/unknown", DESCRIBE_TOPIC_PARTITIONS,
         dtp_body("vs-no-such-topic"))
scenario("describe-topic-partitions/limit-1", DESCRIBE_TOPIC_PARTITIONS,
         dtp_body("{name}", limit=1), setup=topic_with(0, 3))
scenario("describe-topic-partitions/cursor", DESCRIBE_TOPIC_PARTITIONS,
         dtp_body("{name}", cursor=("{name}", 1)), setup=topic_with(0, 3))
scenario("describe-topic-partitions/limit-0", DESCRIBE_TOPIC_PARTITIONS,
         dtp_body("{name}", limit=0), setup=topic_with(0, 3))


# ---------------------------------------------------------------- DescribeCluster, DescribeQuorum


def cluster_body(endpoint_type: int = 1, auth_ops: bool = False, fenced: bool = False) -> Any:
    return {"include_cluster_authorized_operations": auth_ops, "endpoint_type": endpoint_type,
            "include_fenced_brokers": fenced}


scenario("describe-cluster/brokers", DESCRIBE_CLUSTER, cluster_body())
scenario("describe-cluster/authorized-operations", DESCRIBE_CLUSTER, cluster_body(auth_ops=True))
scenario("describe-cluster/include-fenced", DESCRIBE_CLUSTER, cluster_body(fenced=True),
         versions=[2])
scenario("describe-cluster/controllers-on-broker-listener", DESCRIBE_CLUSTER,
         cluster_body(endpoint_type=2), versions=[1, 2])
scenario("describe-cluster/unknown-endpoint-type", DESCRIBE_CLUSTER,
         cluster_body(endpoint_type=9), versions=[1, 2])
scenario("describe-cluster/controller-listener", DESCRIBE_CLUSTER,
         cluster_body(endpoint_type=2), versions=[1, 2], listener="controller",
         note="KIP-919: the AdminClient's --bootstrap-controller path")
scenario("describe-cluster/brokers-on-controller-listener", DESCRIBE_CLUSTER,
         cluster_body(endpoint_type=1), versions=[0, 1, 2], listener="controller",
         note="KIP-919: MISMATCHED_ENDPOINT_TYPE")
scenario("describe-cluster/unknown-endpoint-type-on-controller-listener", DESCRIBE_CLUSTER,
         cluster_body(endpoint_type=9), versions=[1, 2], listener="controller")


def quorum_body(topic: str = "__cluster_metadata", partition: int = 0) -> Any:
    return {"topics": [{"topic_name": topic, "partitions": [{"partition_index": partition}]}]}


scenario("describe-quorum/metadata-log", DESCRIBE_QUORUM, quorum_body(), rules=QUORUM_RULES)
scenario("describe-quorum/on-controller-listener", DESCRIBE_QUORUM, quorum_body(),
         rules=QUORUM_RULES, listener="controller")
scenario("describe-quorum/unknown-topic", DESCRIBE_QUORUM, quorum_body("vs-no-such-topic"),
         rules=QUORUM_RULES)
scenario("describe-quorum/unknown-partition", DESCRIBE_QUORUM, quorum_body(partition=1),
         rules=QUORUM_RULES)


# ---------------------------------------------------------------- DescribeLogDirs


def log_dirs_body(topic: str | None = "{name}", partitions: tuple[int, ...] = (0,)) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        if topic is None:
            return {"topics": None}
        return {"topics": [{"topic": topic.replace("{name}", ctx.name),
                            "partitions": list(partitions)}]}
    return body


scenario("describe-log-dirs/topic", DESCRIBE_LOG_DIRS, log_dirs_body(), setup=topic_with(5))
scenario("describe-log-dirs/unknown-topic", DESCRIBE_LOG_DIRS,
         log_dirs_body("vs-no-such-topic"))
scenario("describe-log-dirs/unknown-partition", DESCRIBE_LOG_DIRS,
         log_dirs_body(partitions=(0, 4)), setup=topic_with(5))
scenario("describe-log-dirs/all", DESCRIBE_LOG_DIRS, log_dirs_body(None),
         rules=("drop:results/topics",), note="the topics depend on the scenarios run before")


# ---------------------------------------------------------------- ElectLeaders, reassignments


def elect_body(election_type: int = 0, topic: str | None = "{name}",
               partitions: tuple[int, ...] = (0,)) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        tps = None if topic is None else [{"topic": topic.replace("{name}", ctx.name),
                                           "partitions": list(partitions)}]
        return {"election_type": election_type, "topic_partitions": tps, "timeout": 30_000}
    return body


scenario("elect-leaders/preferred", ELECT_LEADERS, elect_body(), setup=topic_with(0))
scenario("elect-leaders/unclean", ELECT_LEADERS, elect_body(1), setup=topic_with(0),
         versions=[1, 2])
scenario("elect-leaders/unknown-topic", ELECT_LEADERS, elect_body(topic="vs-no-such-topic"))
scenario("elect-leaders/unknown-partition", ELECT_LEADERS, elect_body(partitions=(3,)),
         setup=topic_with(0))
scenario("elect-leaders/all-partitions", ELECT_LEADERS, elect_body(topic=None),
         rules=("drop:replica_election_results",),
         note="null: every partition; which ones depends on the scenarios run before")
scenario("elect-leaders/unknown-election-type", ELECT_LEADERS, elect_body(5),
         setup=topic_with(0), versions=[1, 2])


def reassign_body(replicas: list[int] | None, topic: str | None = None, partition: int = 0,
                  allow_rf_change: bool = True) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"timeout": 30_000, "allow_replication_factor_change": allow_rf_change,
                "topics": [{"name": topic if topic is not None else ctx.name, "partitions": [
                    {"partition_index": partition, "replicas": replicas}]}]}
    return body


scenario("alter-reassignments/same-replicas", ALTER_REASSIGNMENTS, reassign_body([1]),
         setup=topic_with(0))
scenario("alter-reassignments/unknown-broker", ALTER_REASSIGNMENTS, reassign_body([2]),
         setup=topic_with(0))
scenario("alter-reassignments/cancel-none-in-progress", ALTER_REASSIGNMENTS,
         reassign_body(None), setup=topic_with(0))
scenario("alter-reassignments/empty-replicas", ALTER_REASSIGNMENTS, reassign_body([]),
         setup=topic_with(0))
scenario("alter-reassignments/duplicate-replicas", ALTER_REASSIGNMENTS, reassign_body([1, 1]),
         setup=topic_with(0))
scenario("alter-reassignments/unknown-topic", ALTER_REASSIGNMENTS,
         reassign_body([1], topic="vs-no-such-topic"))
scenario("alter-reassignments/unknown-partition", ALTER_REASSIGNMENTS,
         reassign_body([1], partition=4), setup=topic_with(0))
scenario("alter-reassignments/replication-factor-change-refused", ALTER_REASSIGNMENTS,
         reassign_body([1, 2], allow_rf_change=False), setup=topic_with(0), versions=[1])
scenario("list-reassignments/none", LIST_REASSIGNMENTS,
         lambda ctx: {"timeout": 30_000, "topics": [{"name": ctx.name,
                                                      "partition_indexes": [0]}]},
         setup=topic_with(0))
scenario("list-reassignments/all", LIST_REASSIGNMENTS, {"timeout": 30_000, "topics": None})
scenario("list-reassignments/unknown-topic", LIST_REASSIGNMENTS,
         {"timeout": 30_000, "topics": [{"name": "vs-no-such-topic", "partition_indexes": [0]}]})


# ---------------------------------------------------------------- ACLs (no authorizer on either)

ACL_FILTER = {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
              "principal_filter": None, "host_filter": None, "operation": 1,
              "permission_type": 1}
scenario("describe-acls/any", DESCRIBE_ACLS, ACL_FILTER)
scenario("create-acls/topic-read", CREATE_ACLS, {"creations": [{
    "resource_type": 2, "resource_name": "vs-acl", "resource_pattern_type": 3,
    "principal": "User:alice", "host": "*", "operation": 3, "permission_type": 3}]})
scenario("delete-acls/any", DELETE_ACLS, {"filters": [ACL_FILTER]})
