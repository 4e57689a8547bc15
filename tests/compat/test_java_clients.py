"""Apache Kafka's Java client against kraft: producer, consumer (classic groups), AdminClient.

The checks are Java code (src/main/java/kraft/compat/*Checks.java): each does
what an application does with the client and reports what it observed. All
checks that the selected tests need run in one JVM per target (the dev node,
the three-node cluster), started by the first test that needs them; each test
then asserts on its own check's facts, and shows the check's stack trace if
the client threw.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest

from tests.compat.conftest import Target
from tests.compat.kafka_dist import KafkaDist

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CLUSTER_ONLY = {"admin_elect_leaders", "admin_reassignment"}
JVM_TIMEOUT_S = 600.0

_results: dict[str, dict[str, dict[str, Any]]] = {}  # target name -> check -> result line


def _checks_of(item: pytest.Item) -> list[str]:
    """The Java checks a collected test of this module reads."""
    name = item.originalname if isinstance(item, pytest.Function) else item.name
    if name == "test_produce_codec":
        return [f"produce_{item.callspec.params['codec']}"]  # type: ignore[attr-defined]
    return [name.removeprefix("test_")]


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec else None


@pytest.fixture
def facts(request: pytest.FixtureRequest, kafka: KafkaDist, target: Target) -> dict[str, Any]:
    """The facts of this test's check against `target`; the first test of a target
    runs every check that the session's selected tests of this module need."""
    if target.name not in _results:
        module = request.node.module
        wanted: list[str] = []
        for item in request.session.items:
            if getattr(item, "module", None) is module and _target_of(item) == target.name:
                wanted += [c for c in _checks_of(item) if c not in wanted]
        _results[target.name] = _run_checks(kafka, target, wanted)
    check = _checks_of(request.node)[0]
    result = _results[target.name].get(check)
    if result is None:
        pytest.fail(f"check {check} reported nothing (the JVM died?)")
    if not result["ok"]:
        pytest.fail(f"check {check} threw:\n{result['error']}")
    return result["facts"]


def _run_checks(kafka: KafkaDist, target: Target, checks: list[str]) -> dict[str, dict]:
    if target.brokers < 3:
        checks = [c for c in checks if c not in CLUSTER_ONLY]
    run_id = uuid.uuid4().hex[:8]
    cmd = kafka.command("kraft.compat.Checks", target.bootstrap, str(target.brokers), run_id,
                        *checks)
    try:
        proc = subprocess.run(cmd, text=True, capture_output=True, timeout=JVM_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
        stdout, stderr, ending = proc.stdout, proc.stderr, f"exited {proc.returncode}"
    except subprocess.TimeoutExpired as exc:  # killed; what it printed is kept
        stdout, stderr = _text(exc.stdout), _text(exc.stderr)
        ending = f"was killed after {JVM_TIMEOUT_S:.0f} s"
    results = {}
    for line in stdout.splitlines():
        if line.startswith("CHECK "):
            result = json.loads(line.removeprefix("CHECK "))
            results[result["check"]] = result
    for check in checks:
        if check not in results:
            results[check] = {"ok": False, "error": f"the JVM {ending} before reporting it; "
                              f"stderr:\n{stderr[-4000:]}"}
    return results


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


@pytest.mark.parametrize("codec", CODECS)
def test_produce_codec(facts: dict[str, Any], codec: str) -> None:
    """3000 records with headers, compressed with `codec` by an idempotent acks=all
    producer, come back byte for byte at contiguous offsets, one sequence per partition."""
    assert (facts["acks"], facts["idempotence"]) == ("-1", True)  # Kafka's defaults, in use
    assert facts["sent"] == facts["received"] == 3000
    assert facts["mismatches"] == []
    assert facts["acked_offsets_contiguous"] and facts["timestamps_match"]
    states = facts["producer_states"]
    assert sorted(s["partition"] for s in states) == [0, 1, 2]
    assert len({s["producer_id"] for s in states}) == 1
    assert all(s["producer_id"] >= 0 and s["producer_epoch"] == 0 for s in states)
    assert all(s["last_sequence"] == 999 for s in states)


def test_produce_large_batches(facts: dict[str, Any]) -> None:
    """Batches of 512 KiB and a 1,000,000-byte record are stored and read back intact."""
    assert facts["sent"] == facts["received"] == 121
    assert facts["mismatches"] == []
    assert facts["acked_offsets_contiguous"] and facts["timestamps_match"]


def test_produce_too_large(facts: dict[str, Any]) -> None:
    """A 2 MiB record is refused as too large (message.max.bytes) and the producer
    goes on: its next small record is stored at offset 0."""
    assert facts == {"error": "RecordTooLargeException", "small_offset": 0}


def test_consumer_group_rebalance(facts: dict[str, Any]) -> None:
    """A second member splits the partitions with the first (range assignor), every
    record is consumed and committed, and the survivor takes all partitions back."""
    assert facts["assignment_a_alone"] == [0, 1, 2, 3]
    assert facts["assignment_a_shared"] == [0, 1] and facts["assignment_b_shared"] == [2, 3]
    assert facts["revocations_a"] >= 1
    assert facts["consumed_unique"] == 400
    assert facts["group_state_shared"] == "Stable" and facts["group_assignor"] == "range"
    assert facts["group_members_shared"] == [
        {"client_id": "member-a", "partitions": [0, 1]},
        {"client_id": "member-b", "partitions": [2, 3]}]
    assert set(facts["committed_shared"].values()) == {100}
    assert len(facts["committed_shared"]) == 4
    assert facts["assignment_b_after_a_left"] == [0, 1, 2, 3]
    assert facts["group_members_after_a_left"] == [
        {"client_id": "member-b", "partitions": [0, 1, 2, 3]}]
    assert facts["group_state_closed"] == "Empty"
    assert facts["committed_closed"] == facts["committed_shared"]


def test_consumer_commit_seek(facts: dict[str, Any]) -> None:
    """seek, commitSync with metadata, committed(), seekToBeginning/End and a new
    member resuming at the committed offset all agree."""
    assert facts == {"first_after_seek": 10, "committed_offset": 25,
                     "committed_metadata": "checkpoint", "position_beginning": 0,
                     "position_end": 50, "beginning_offset": 0, "end_offset": 50,
                     "first_after_rejoin": 25}


def test_consumer_offsets_for_times(facts: dict[str, Any]) -> None:
    """offsetsForTimes answers the first record at or after each time (record i is
    at base + i s), and null after the last record."""
    assert facts["found"] == {"-1000": [0, 0], "0": [0, 0], "5500": [6, 6000],
                              "49000": [49, 49000], "100000": None}


def test_admin_topics(facts: dict[str, Any], target: Target) -> None:
    """createTopics, listTopics, describeTopics, createPartitions and deleteTopics
    work, and each bad request fails with Kafka's exception."""
    rf = min(3, target.brokers)
    assert facts["create_again"] == "TopicExistsException"
    assert facts["create_bad_value"] == "InvalidConfigurationException"
    assert facts["create_unknown_config"] == "InvalidConfigurationException"
    assert facts["create_illegal_name"] == "InvalidTopicException"
    assert facts["create_too_many_replicas"] == "InvalidReplicationFactorException"
    assert facts["validate_only"] is None and facts["validate_only_listed"] is False
    assert facts["listed"] and facts["topic_id_set"] and not facts["internal"]
    assert facts["partitions"] == 2
    assert [len(r) for r in facts["replicas"]] == [rf, rf]
    assert all(len(set(r)) == rf for r in facts["replicas"])
    assert facts["isr_sizes"] == [rf, rf]
    assert facts["partitions_after_increase"] == 5
    assert facts["decrease"] == "InvalidPartitionsException"
    assert facts["increase_unknown"] == "UnknownTopicOrPartitionException"
    assert facts["listed_after_delete"] is False
    assert facts["describe_deleted"] == "UnknownTopicOrPartitionException"
    assert facts["delete_unknown"] == "UnknownTopicOrPartitionException"


def test_admin_configs(facts: dict[str, Any]) -> None:
    """describeConfigs reports dynamic and default values with their source;
    incrementalAlterConfigs SET/APPEND/DELETE apply; bad values and names are refused."""
    assert facts["retention_ms"] == {"value": "3600000", "source": "DYNAMIC_TOPIC_CONFIG",
                                     "read_only": False}
    assert facts["cleanup_policy"] == {"value": "delete", "source": "DEFAULT_CONFIG",
                                       "read_only": False}
    assert facts["max_message_bytes"]["value"] == "1048588"
    assert facts["segment_bytes_after"] == {"value": "1048576",
                                            "source": "DYNAMIC_TOPIC_CONFIG", "read_only": False}
    assert facts["cleanup_policy_after"]["value"] == "delete,compact"
    assert facts["retention_ms_after"] == {"value": "604800000", "source": "DEFAULT_CONFIG",
                                           "read_only": False}
    assert facts["set_bad_value"] == "InvalidConfigurationException"
    assert facts["set_unknown_name"] == "InvalidConfigurationException"
    assert facts["describe_unknown_topic"] == "UnknownTopicOrPartitionException"
    assert facts["broker_message_max_bytes"]["value"] == "1048588"
    assert facts["broker_node_id"]["source"] == "STATIC_BROKER_CONFIG"
    assert facts["broker_node_id"]["read_only"] is True
    assert facts["broker_entries"] > 50


def test_admin_records(facts: dict[str, Any]) -> None:
    """listOffsets (earliest, latest, max timestamp) and deleteRecords: the log start
    moves to 40, a consumer starts there, deleting past the end is refused."""
    last_ts = facts["base"] + 99_000
    assert facts["offsets_before"] == {"earliest": [0, -1], "latest": [100, -1],
                                       "max_timestamp": [99, last_ts]}
    assert facts["low_watermark"] == 40
    assert facts["offsets_after"] == {"earliest": [40, -1], "latest": [100, -1],
                                      "max_timestamp": [99, last_ts]}
    assert facts["consumer_start"] == 40
    assert facts["delete_past_end"] == "OffsetOutOfRangeException"
    assert facts["low_watermark_all"] == 100


def test_admin_groups(facts: dict[str, Any]) -> None:
    """Group offsets can be set, listed, partly deleted and the empty group deleted;
    an active group refuses deletion and offset changes with Kafka's exceptions."""
    assert facts["listed_state"] == "Empty" and facts["described_state"] == "Empty"
    assert facts["described_members"] == 0
    assert list(facts["offsets"].values()) == [3, 5]
    assert list(facts["offsets_after_delete_p0"].values()) == [5]
    assert facts["active_assignment"] == 2 and facts["active_state"] == "Stable"
    assert facts["delete_active"] == "GroupNotEmptyException"
    assert facts["alter_active"] == "UnknownMemberIdException"
    assert facts["delete_offsets_active"] == "GroupSubscribedToTopicException"
    assert facts["listed_after_delete"] is None
    assert facts["described_after_delete"] == "Dead"
    assert facts["delete_unknown"] == "GroupIdNotFoundException"


def test_admin_cluster(facts: dict[str, Any], target: Target) -> None:
    """describeCluster, describeMetadataQuorum and describeFeatures describe the
    cluster that is running: its id, its brokers, its voters and their leader."""
    ids = list(range(1, target.brokers + 1))
    assert facts["cluster_id"] == target.cluster_id
    assert facts["nodes"] == ids and facts["controller"] in ids
    assert facts["quorum_voters"] == ids and facts["quorum_leader"] in ids
    assert facts["quorum_epoch"] >= 1 and facts["quorum_high_watermark"] > 0
    assert facts["quorum_observers"] == []
    assert all(end > 0 for end in facts["quorum_voter_log_end_offsets"])
    assert "metadata.version" in facts["finalized_features"]
    assert "metadata.version" in facts["supported_features"]


def test_admin_log_dirs(facts: dict[str, Any], target: Target) -> None:
    """describeLogDirs shows every replica of a topic, with its size, in the one log
    dir of each broker, and the dir's total and usable bytes."""
    assert facts["brokers"] == facts["dirs"] == target.brokers and facts["space_known"]
    rf = facts["rf"]
    assert len(facts["replicas"]) == 2 * rf
    assert sorted(r["partition"] for r in facts["replicas"]) == [0] * rf + [1] * rf
    assert all(r["size"] > 0 and r["offset_lag"] == 0 and not r["is_future"]
               for r in facts["replicas"])


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cluster"], indirect=True)
def test_admin_elect_leaders(facts: dict[str, Any]) -> None:
    """electLeaders: not needed while the preferred replica leads; after a reorder of
    the replicas a preferred election moves leadership, and the records stay."""
    assert facts["leader_created"] == 2
    assert facts["preferred_not_needed"] == "ElectionNotNeededException"
    assert facts["unclean_not_needed"] == "ElectionNotNeededException"
    assert facts["leader_after_reorder"] == 2
    assert facts["preferred_election"] is None
    assert facts["leader_after_election"] == 3
    assert facts["unknown_partition"] == "UnknownTopicOrPartitionException"
    assert facts["records_after_election"] == 30


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cluster"], indirect=True)
def test_admin_reassignment(facts: dict[str, Any]) -> None:
    """alterPartitionReassignments moves a partition from [1, 2] to [2, 3] with its
    records; cancelling nothing, an unknown broker and an unknown topic are refused."""
    assert facts["replicas_after"] == [2, 3] and facts["isr_after"] == [2, 3]
    assert facts["leader_after"] in (2, 3)
    assert facts["records_after"] == 50 and facts["values_in_order"]
    assert facts["cancel_none"] == "NoReassignmentInProgressException"
    assert facts["unknown_broker"] == "InvalidReplicaAssignmentException"
    assert facts["unknown_topic"] == "UnknownTopicOrPartitionException"
    assert facts["replicas_final"] == [[2, 3]]


@pytest.mark.parametrize("target", ["dev"], indirect=True)
def test_produce_transactional(facts: dict[str, Any]) -> None:
    """A transactional producer's committed records are read by read_committed
    consumers and its aborted ones are not; read_uncommitted sees both."""
    committed = [f"committed-{i}" for i in range(10)]
    aborted = [f"aborted-{i}" for i in range(10)]
    assert facts["read_committed"] == committed
    assert facts["read_uncommitted"] == committed + aborted
    assert facts["read_committed_end"] == facts["read_uncommitted_end"] == 22  # two markers


@pytest.mark.xfail(reason="docs/compat.md: KIP-848 consumer groups", strict=True)
@pytest.mark.parametrize("target", ["dev"], indirect=True)
def test_consumer_protocol_consumer(facts: dict[str, Any]) -> None:
    """A consumer of the KIP-848 protocol (group.protocol=consumer) is assigned every
    partition and reads every record."""
    assert facts == {"assignment": [0, 1], "consumed": 20}
