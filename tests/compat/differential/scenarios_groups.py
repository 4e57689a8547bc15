"""Scenarios of classic consumer groups: FindCoordinator, JoinGroup, SyncGroup,
Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups,
ListGroups, DeleteGroups.

Each version gets a group of its own where a scenario changes the group
("{name}-v{version}"), so every version starts from the same state on both
brokers. Both run with group.initial.rebalance.delay.ms=0 (see check.py), so
a lone member's join completes at once."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from tests.compat.differential.engine import Ctx, SetupFailed, assignment, scenario, subscription
from tests.compat.differential.scenarios_data import topic_with

OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT = 8, 9, 10, 11, 12
LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS = 13, 14, 15, 16, 42
OFFSET_DELETE = 47
GROUP_RULES = ("id:*member_id", "id:leader", "id:members/member_id",
               "id:groups/members/member_id")


def group(ctx: Ctx) -> str:
    return f"{ctx.name}-v{ctx.version}"


def coordinator_ready(ctx: Ctx) -> None:
    """The group coordinator answers, and the scenario's topic exists with 5 records."""
    ctx.wait_coordinator(ctx.name)
    topic_with(5)(ctx)


def stable_member(ctx: Ctx, group_id: str | None = None) -> tuple[str, int]:
    """A member that joined and synced `group_id` (default: this version's group)."""
    return ctx.join_group(group_id or group(ctx), ctx.name)


# ---------------------------------------------------------------- FindCoordinator


def find_body(key: str = "{name}", key_type: int = 0, keys: tuple[str, ...] | None = None) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        k = key.replace("{name}", ctx.name)
        return {"key": k, "key_type": key_type,
                "coordinator_keys": list(keys) if keys is not None else [k]}
    return body


scenario("find-coordinator/group", FIND_COORDINATOR, find_body(), setup=coordinator_ready)
scenario("find-coordinator/two-groups", FIND_COORDINATOR, find_body(keys=("vs-a", "vs-b")),
         setup=coordinator_ready, versions=range(4, 7))
scenario("find-coordinator/empty-group-id", FIND_COORDINATOR, find_body(""),
         setup=coordinator_ready)
scenario("find-coordinator/transaction", FIND_COORDINATOR, find_body("vs-txn", 1),
         setup=coordinator_ready, versions=range(1, 7), timeout=40.0)
scenario("find-coordinator/unknown-key-type", FIND_COORDINATOR, find_body(key_type=5),
         setup=coordinator_ready, versions=range(1, 7))


# ---------------------------------------------------------------- JoinGroup


def join_body(member: str = "", session_ms: int = 30_000, protocol_type: str = "consumer",
              group_id: str | None = None, instance: str | None = None,
              protocols: bool = True, second_round: bool = False) -> Any:
    """A JoinGroup of this version's group; `second_round` first joins with an empty
    member id (preparatory, v4+ answers MEMBER_ID_REQUIRED) and sends the id it got."""
    def body(ctx: Ctx) -> dict[str, Any]:
        values = {"group_id": group_id if group_id is not None else group(ctx),
                  "session_timeout": session_ms, "rebalance_timeout": 60_000,
                  "member_id": member, "group_instance_id": instance,
                  "protocol_type": protocol_type,
                  "protocols": [{"name": "range", "metadata": subscription(ctx.name)}]
                  if protocols else [], "reason": None}
        if second_round and ctx.version >= 4:
            first = ctx.call(JOIN_GROUP, ctx.version, values, timeout=70)
            values["member_id"] = first.member_id
        return values
    return body


scenario("join-group/new-member", JOIN_GROUP, join_body(), setup=coordinator_ready,
         rules=GROUP_RULES, timeout=70.0)
scenario("join-group/with-assigned-member-id", JOIN_GROUP, join_body(second_round=True),
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)
scenario("join-group/unknown-member-id", JOIN_GROUP, join_body(member="vs-bogus-member"),
         setup=coordinator_ready, rules=GROUP_RULES)
scenario("join-group/session-timeout-too-small", JOIN_GROUP, join_body(session_ms=1),
         setup=coordinator_ready, rules=GROUP_RULES)
scenario("join-group/session-timeout-too-large", JOIN_GROUP, join_body(session_ms=3_600_000),
         setup=coordinator_ready, rules=GROUP_RULES)
scenario("join-group/empty-group-id", JOIN_GROUP, join_body(group_id=""),
         setup=coordinator_ready, rules=GROUP_RULES)
scenario("join-group/no-protocols", JOIN_GROUP, join_body(protocols=False),
         setup=coordinator_ready, rules=GROUP_RULES)
scenario("join-group/static-member", JOIN_GROUP, join_body(instance="vs-instance-1"),
         setup=coordinator_ready, rules=GROUP_RULES, versions=range(5, 10), timeout=70.0)


def inconsistent_join(ctx: Ctx) -> dict[str, Any]:
    stable_member(ctx)
    return join_body(protocol_type="connect")(ctx)


scenario("join-group/inconsistent-protocol-type", JOIN_GROUP, inconsistent_join,
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)


# ---------------------------------------------------------------- SyncGroup, Heartbeat, LeaveGroup


def joined(ctx: Ctx) -> tuple[str, int]:
    """A member that joined this version's group (JoinGroup v9, twice: the first
    answer assigns the member id) but has not synced; (member id, generation)."""
    join = join_body()(ctx)
    first = ctx.call(JOIN_GROUP, 9, join, timeout=70)
    second = ctx.call(JOIN_GROUP, 9, {**join, "member_id": first.member_id}, timeout=70)
    if second.error_code != ErrorCode.none:
        raise SetupFailed(f"JoinGroup: {second.error_code.name}")
    return second.member_id, second.generation_id


def sync_body(generation_delta: int = 0, member: str | None = None,
              protocol_type: str = "consumer") -> Any:
    """SyncGroup as the leader of this version's group, after a preparatory join."""
    def body(ctx: Ctx) -> dict[str, Any]:
        joined_id, generation = joined(ctx)
        return {"group_id": group(ctx), "generation_id": generation + generation_delta,
                "member_id": member if member is not None else joined_id,
                "group_instance_id": None, "protocol_type": protocol_type,
                "protocol_name": "range",
                "assignments": [{"member_id": joined_id,
                                 "assignment": assignment(ctx.name, [0])}]}
    return body


scenario("sync-group/leader", SYNC_GROUP, sync_body(), setup=coordinator_ready,
         rules=GROUP_RULES, timeout=70.0)
scenario("sync-group/wrong-generation", SYNC_GROUP, sync_body(generation_delta=5),
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)
scenario("sync-group/unknown-member", SYNC_GROUP, sync_body(member="vs-bogus-member"),
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)
scenario("sync-group/inconsistent-protocol-type", SYNC_GROUP,
         sync_body(protocol_type="connect"), setup=coordinator_ready, rules=GROUP_RULES,
         versions=[5], timeout=70.0)
scenario("sync-group/unknown-group", SYNC_GROUP,
         {"group_id": "vs-no-such-group", "generation_id": 1, "member_id": "vs-bogus-member",
          "group_instance_id": None, "protocol_type": "consumer", "protocol_name": "range",
          "assignments": []}, setup=coordinator_ready)


def member_body(kind: str, generation_delta: int = 0, member: str | None = None,
                group_id: str | None = None) -> Any:
    """Heartbeat or LeaveGroup for a stable member of this version's group."""
    def body(ctx: Ctx) -> dict[str, Any]:
        gid = group_id if group_id is not None else group(ctx)
        me, generation = ("vs-bogus-member", 1) if group_id is not None else stable_member(ctx)
        me = member if member is not None else me
        if kind == "heartbeat":
            return {"group_id": gid, "generation_id": generation + generation_delta,
                    "member_id": me, "group_instance_id": None}
        return {"group_id": gid, "member_id": me,
                "members": [{"member_id": me, "group_instance_id": None, "reason": "vs-kafka"}]}
    return body


scenario("heartbeat/stable-member", HEARTBEAT, member_body("heartbeat"),
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)
scenario("heartbeat/wrong-generation", HEARTBEAT, member_body("heartbeat", generation_delta=3),
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)
scenario("heartbeat/unknown-member", HEARTBEAT, member_body("heartbeat", member="vs-bogus"),
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)
scenario("heartbeat/unknown-group", HEARTBEAT,
         member_body("heartbeat", group_id="vs-no-such-group"), setup=coordinator_ready)
scenario("heartbeat/empty-group-id", HEARTBEAT, member_body("heartbeat", group_id=""),
         setup=coordinator_ready)
scenario("leave-group/member", LEAVE_GROUP, member_body("leave"), setup=coordinator_ready,
         rules=GROUP_RULES, timeout=70.0)
scenario("leave-group/unknown-member", LEAVE_GROUP, member_body("leave", member="vs-bogus"),
         setup=coordinator_ready, rules=GROUP_RULES, timeout=70.0)
scenario("leave-group/unknown-group", LEAVE_GROUP,
         member_body("leave", group_id="vs-no-such-group"), setup=coordinator_ready)


# ---------------------------------------------------------------- offsets


def commit_body(offset: int = 3, metadata: str = "m", topic: str | None = None,
                member: bool = False, generation_delta: int = 0, group_id: str | None = None,
                partition: int = 0) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        me, generation = stable_member(ctx) if member else ("", -1)
        return {"group_id": group_id if group_id is not None else group(ctx),
                "generation_id_or_member_epoch": generation + generation_delta,
                "member_id": me, "retention_time": -1, "group_instance_id": None,
                "topics": [{"name": topic if topic is not None else ctx.name,
                            "topic_id": ctx.state["topic_id"], "partitions": [
                                {"partition_index": partition, "committed_offset": offset,
                                 "committed_leader_epoch": -1, "committed_metadata": metadata}]}]}
    return body


scenario("offset-commit/simple-group", OFFSET_COMMIT, commit_body(), setup=coordinator_ready)
scenario("offset-commit/member", OFFSET_COMMIT, commit_body(member=True),
         setup=coordinator_ready, timeout=70.0)
scenario("offset-commit/wrong-generation", OFFSET_COMMIT,
         commit_body(member=True, generation_delta=4), setup=coordinator_ready, timeout=70.0)
scenario("offset-commit/unknown-topic", OFFSET_COMMIT, commit_body(topic="vs-no-such-topic"),
         setup=coordinator_ready)
scenario("offset-commit/unknown-partition", OFFSET_COMMIT, commit_body(partition=9),
         setup=coordinator_ready)
scenario("offset-commit/metadata-too-large", OFFSET_COMMIT, commit_body(metadata="m" * 5000),
         setup=coordinator_ready, note="offset.metadata.max.bytes is 4096")
scenario("offset-commit/empty-group-id", OFFSET_COMMIT, commit_body(group_id=""),
         setup=coordinator_ready)
scenario("offset-commit/beyond-log-end", OFFSET_COMMIT, commit_body(offset=10_000),
         setup=coordinator_ready, note="Kafka does not check committed offsets")


def fetch_offsets_body(group_id: str | None = None, topics: Any = "default",
                       extra_group: str | None = None, require_stable: bool = False) -> Any:
    """OffsetFetch of this scenario's committed group (setup commits offset 3)."""
    def body(ctx: Ctx) -> dict[str, Any]:
        gid = group_id if group_id is not None else f"{ctx.name}-committed"
        wanted = ([{"name": ctx.name, "topic_id": ctx.state["topic_id"],
                    "partition_indexes": [0]}] if topics == "default" else topics)
        groups = [{"group_id": gid, "member_id": None, "member_epoch": -1, "topics": wanted}]
        if extra_group is not None:
            groups.append({"group_id": extra_group, "member_id": None, "member_epoch": -1,
                           "topics": wanted})
        return {"group_id": gid, "topics": wanted, "groups": groups,
                "require_stable": require_stable}
    return body


def committed_setup(ctx: Ctx) -> None:
    coordinator_ready(ctx)
    ctx.commit(f"{ctx.name}-committed", ctx.name, 3)


scenario("offset-fetch/committed", OFFSET_FETCH, fetch_offsets_body(), setup=committed_setup)
scenario("offset-fetch/all-topics", OFFSET_FETCH, fetch_offsets_body(topics=None),
         setup=committed_setup, versions=range(2, 10))
scenario("offset-fetch/unknown-group", OFFSET_FETCH,
         fetch_offsets_body(group_id="vs-no-such-group"), setup=committed_setup)
scenario("offset-fetch/unknown-topic", OFFSET_FETCH, fetch_offsets_body(
    topics=[{"name": "vs-no-such-topic", "partition_indexes": [0]}]), setup=committed_setup)
scenario("offset-fetch/two-groups", OFFSET_FETCH,
         fetch_offsets_body(extra_group="vs-no-such-group"), setup=committed_setup,
         versions=range(8, 10))
scenario("offset-fetch/require-stable", OFFSET_FETCH, fetch_offsets_body(require_stable=True),
         setup=committed_setup, versions=range(7, 10))
scenario("offset-fetch/empty-group-id", OFFSET_FETCH, fetch_offsets_body(group_id=""),
         setup=committed_setup)


def offset_delete_body(group_id: str | None = None, topic: str | None = None,
                       subscribed: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        gid = group_id if group_id is not None else f"{ctx.name}-committed"
        if subscribed:
            gid = group(ctx)
            member, generation = stable_member(ctx, gid)
            ctx.commit(gid, ctx.name, 1, member=member, generation=generation)
        return {"group_id": gid, "topics": [{"name": topic if topic is not None else ctx.name,
                                             "partitions": [{"partition_index": 0}]}]}
    return body


scenario("offset-delete/committed", OFFSET_DELETE, offset_delete_body(), setup=committed_setup)
scenario("offset-delete/unknown-group", OFFSET_DELETE,
         offset_delete_body(group_id="vs-no-such-group"), setup=committed_setup)
scenario("offset-delete/unknown-topic", OFFSET_DELETE,
         offset_delete_body(topic="vs-no-such-topic"), setup=committed_setup)
scenario("offset-delete/subscribed-topic", OFFSET_DELETE, offset_delete_body(subscribed=True),
         setup=committed_setup, timeout=70.0)


# ---------------------------------------------------------------- describe, list, delete


def describe_groups_body(*names: str, auth_ops: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"groups": [n.replace("{name}", ctx.name) for n in names],
                "include_authorized_operations": auth_ops}
    return body


def stable_setup(ctx: Ctx) -> None:
    coordinator_ready(ctx)
    ctx.join_group(f"{ctx.name}-stable", ctx.name)
    ctx.commit(f"{ctx.name}-committed", ctx.name, 3)


scenario("describe-groups/stable", DESCRIBE_GROUPS, describe_groups_body("{name}-stable"),
         setup=stable_setup, rules=GROUP_RULES, timeout=70.0)
scenario("describe-groups/empty", DESCRIBE_GROUPS, describe_groups_body("{name}-committed"),
         setup=stable_setup, rules=GROUP_RULES, timeout=70.0)
scenario("describe-groups/unknown", DESCRIBE_GROUPS, describe_groups_body("vs-no-such-group"),
         setup=coordinator_ready)
scenario("describe-groups/authorized-operations", DESCRIBE_GROUPS,
         describe_groups_body("{name}-stable", auth_ops=True), setup=stable_setup,
         rules=GROUP_RULES, versions=range(3, 7), timeout=70.0)
scenario("describe-groups/empty-group-id", DESCRIBE_GROUPS, describe_groups_body(""),
         setup=coordinator_ready)

LISTED = ("drop:groups",)  # which groups exist depends on the scenarios run before
scenario("list-groups/all", LIST_GROUPS, {"states_filter": [], "types_filter": []},
         setup=coordinator_ready, rules=LISTED)
scenario("list-groups/stable-filter", LIST_GROUPS,
         {"states_filter": ["Stable"], "types_filter": []}, setup=coordinator_ready,
         rules=LISTED, versions=range(4, 6))
scenario("list-groups/unknown-state-filter", LIST_GROUPS,
         {"states_filter": ["Sleepy"], "types_filter": []}, setup=coordinator_ready,
         versions=range(4, 6))
scenario("list-groups/classic-type-filter", LIST_GROUPS,
         {"states_filter": [], "types_filter": ["classic"]}, setup=coordinator_ready,
         rules=LISTED, versions=[5])
scenario("list-groups/consumer-type-filter", LIST_GROUPS,
         {"states_filter": [], "types_filter": ["consumer"]}, setup=coordinator_ready,
         versions=[5])


def delete_groups_body(kind: str) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        gid = group(ctx)
        if kind == "empty":
            ctx.commit(gid, ctx.name, 1)
        elif kind == "stable":
            stable_member(ctx, gid)
        names = {"unknown": ["vs-no-such-group"], "invalid": [""]}.get(kind, [gid])
        return {"groups_names": names}
    return body


scenario("delete-groups/empty", DELETE_GROUPS, delete_groups_body("empty"),
         setup=coordinator_ready)
scenario("delete-groups/non-empty", DELETE_GROUPS, delete_groups_body("stable"),
         setup=coordinator_ready, timeout=70.0)
scenario("delete-groups/unknown", DELETE_GROUPS, delete_groups_body("unknown"),
         setup=coordinator_ready)
scenario("delete-groups/empty-group-id", DELETE_GROUPS, delete_groups_body("invalid"),
         setup=coordinator_ready)
