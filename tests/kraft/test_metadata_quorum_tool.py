"""`kraft metadata-quorum` with kafka-metadata-quorum's flags and output shape.

Against one real `kraft dev` node (shared by the module, stopped at its end, also
when a test fails): --status and --replication through the brokers and through the
controllers (KIP-919), --json, --human-readable, a dead address first in the list,
and the refusals. The computations Kafka's tool makes (lag, MaxFollowerLag, row
order, table padding) are checked on a three-voter quorum with an observer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.tools import metadata_quorum as mq
from tests.integration.dev import DevNode
from tests.kraft.test_cli import kraft, one_line
from tests.ports import free_port


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    root = tmp_path_factory.mktemp("metadata-quorum")
    dev = DevNode(root / "data", root / "logs")
    try:
        dev.start()
        yield dev
    finally:
        dev.close()


def status_fields(text: str) -> dict[str, str]:
    """`Name:` padded to 24 columns, then the value, one per line (Kafka's layout)."""
    fields = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+):( +)(.*)", line)
        assert m is not None and len(m[1]) + 1 + len(m[2]) == 24, line
        fields[m[1]] = m[3]
    return fields


def cluster_id(node: DevNode) -> str:
    return node.ready_line.split("cluster ", 1)[1].split(",", 1)[0]


@pytest.mark.parametrize("via", ["--bootstrap-server", "--bootstrap-controller"])
def test_status_through_brokers_and_controllers(via: str, node: DevNode) -> None:
    """--status names the cluster, leader 1 and the one voter with its controller endpoint,
    in Kafka's field order, asked of a broker or of the controllers directly."""
    address = node.bootstrap if via == "--bootstrap-server" else \
        f"127.0.0.1:{node.controller_port}"
    result = kraft("metadata-quorum", via, address, "describe", "--status")
    assert result.returncode == 0, result.stderr
    fields = status_fields(result.stdout)
    assert list(fields) == ["ClusterId", "LeaderId", "LeaderEpoch", "HighWatermark",
                            "MaxFollowerLag", "MaxFollowerLagTimeMs", "CurrentVoters",
                            "CurrentObservers"]
    assert fields["ClusterId"] == cluster_id(node)
    assert fields["LeaderId"] == "1" and int(fields["LeaderEpoch"]) >= 1
    assert int(fields["HighWatermark"]) > 0
    assert (fields["MaxFollowerLag"], fields["MaxFollowerLagTimeMs"]) == ("0", "0")
    assert fields["CurrentVoters"] == (f'[{{"id": 1, "endpoints": '
                                       f'["CONTROLLER://127.0.0.1:{node.controller_port}"]}}]')
    assert fields["CurrentObservers"] == "[]"


def test_replication_table_and_json(node: DevNode) -> None:
    """--replication prints Kafka's header and the leader's row (lag 0, timestamps in ms);
    --human-readable gives "N ms ago"; --json the same facts as one object."""
    controllers = f"127.0.0.1:{node.controller_port}"
    base = ("metadata-quorum", "--bootstrap-controller", controllers, "describe")
    table = kraft(*base, "--replication").stdout.splitlines()
    assert [c.strip() for c in table[0].split("\t")] == [*mq.HEADERS, ""]
    row = [c.strip() for c in table[1].split("\t")]
    assert row[0] == "1" and row[3] == "0" and row[6] == "Leader" and int(row[4]) > 0
    human = kraft(*base, "--replication", "--human-readable").stdout.splitlines()[1]
    assert re.search(r"\t\d+ ms ago *\t\d+ ms ago *\tLeader\t$", human), human
    as_json = json.loads(kraft(*base, "--replication", "--json").stdout)
    assert [(r["nodeId"], r["lag"], r["status"]) for r in as_json["replicas"]] == [
        (1, 0, "Leader")]
    status = json.loads(kraft(*base, "--status", "--json").stdout)
    assert status["clusterId"] == cluster_id(node) and status["leaderId"] == 1
    assert [v["id"] for v in status["currentVoters"]] == [1]


def test_a_list_is_tried_in_order(node: DevNode) -> None:
    """An address that does not answer is skipped for the next in the list; when none
    answers, one line names each with why."""
    dead = f"127.0.0.1:{free_port()}"
    ok = kraft("metadata-quorum", "--bootstrap-server", f"{dead},{node.bootstrap}",
               "describe", "--status")
    assert ok.returncode == 0 and status_fields(ok.stdout)["LeaderId"] == "1"
    failed = kraft("metadata-quorum", "--bootstrap-controller", dead, "describe", "--status")
    assert failed.returncode == 1
    assert one_line(failed.stderr).startswith(f"no controller answered: {dead} (")


@pytest.mark.parametrize(("args", "message"), [
    (["describe"], "One of --status or --replication must be specified with describe "
                   "sub-command"),
    (["describe", "--status", "--human-readable"],
     "The option --human-readable is only supported along with --replication"),
    (["remove-controller", "--controller-id", "-1", "--controller-directory-id",
      "AAAAAAAAAAAAAAAAAAAAAA"], "Invalid negative --controller-id: -1"),
    (["remove-controller", "--controller-id", "1", "--controller-directory-id", "bogus"],
     "Failed to parse --controller-directory-id: Invalid UUID string: bogus"),
    (["add-controller", "--command-config", "no-such.properties"],
     "Properties file no-such.properties does not exists!"),
    (["add-controller"], "You must supply the configuration file of the controller you are "
                         "adding when using add-controller."),
])
def test_refusals_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    """Usage Kafka's tool refuses (with its words) is one line each, exit 1, with
    nothing asked of any node."""
    result = kraft("metadata-quorum", "--bootstrap-server", f"127.0.0.1:{free_port()}", *args)
    assert result.returncode == 1
    assert one_line(result.stderr) == message


def replica(node_id: int, end: int, caught_up: int, endpoints: tuple[str, ...] = (),
            directory: str = mq.ZERO_UUID) -> mq.Replica:
    return mq.Replica(node_id, directory, end, caught_up + 5, caught_up, endpoints)


def test_lag_order_and_padding_as_kafka_computes_them() -> None:
    """With voters 1 (leader, end 100), 2 (end 90) and 3 (end 100) and observer 4: the
    laggard's lag and how long ago it was caught up relative to the leader, rows leader
    first then voters then observers, directory ids shown unless zero, columns padded."""
    info = mq.QuorumInfo(
        "c", 1, 7, 100,
        voters=(replica(2, 90, 1_000), replica(1, 100, 1_500, ("CONTROLLER://h1:9093",)),
                replica(3, 100, 1_500)),
        observers=(replica(4, 40, 200, directory="4znU-ou9Taa06bmEJxsjnw"),))
    fields = status_fields(mq.render_status(info))
    assert (fields["MaxFollowerLag"], fields["MaxFollowerLagTimeMs"]) == ("10", "500")
    assert fields["CurrentVoters"] == ('[{"id": 2}, {"id": 1, "endpoints": '
                                       '["CONTROLLER://h1:9093"]}, {"id": 3}]')
    assert fields["CurrentObservers"] == '[{"id": 4, "directoryId": "4znU-ou9Taa06bmEJxsjnw"}]'
    rows = mq.replication_rows(info)
    assert [(r["nodeId"], r["lag"], r["status"]) for r in rows] == [
        (1, 0, "Leader"), (2, 10, "Follower"), (3, 0, "Follower"), (4, 60, "Observer")]
    lines = mq.render_replication(rows, now_ms=2_000).splitlines()
    assert lines[0].startswith("NodeId\tDirectoryId           \tLogEndOffset\tLag\t")
    assert lines[2] == ("2     \tAAAAAAAAAAAAAAAAAAAAAA\t90          \t10 \t995 ms ago        \t"
                        "1000 ms ago          \tFollower\t")


def test_a_voter_change_is_asked_again_until_the_quorum_settles(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """add-controller / remove-controller ask again after failures that pass once the
    quorum settles (a leader being elected, an observer catching up), until the
    deadline, as Kafka's Admin client retries; a refusal is answered at once."""
    import time

    from kraft.raft import messages as m

    answers: list[str] = []
    asked: list[int] = []

    async def change_voters(*args: object) -> None:
        asked.append(1)
        if answers:
            raise mq.QuorumToolError(answers.pop(0))

    monkeypatch.setattr(mq, "change_voters", change_voters)
    monkeypatch.setattr(mq, "RETRY_S", 0)
    request = m.RemoveRaftVoterRequest(cluster_id=None, voter_id=2, voter_directory_id=None)

    def change(deadline: float) -> None:
        mq.change_until_taken([("127.0.0.1", 1)], True, request, None, deadline)

    answers[:] = ["no controller answered: 127.0.0.1:1 (connection refused)",
                  "the quorum leader at 127.0.0.1:1 did not answer: no answer",
                  "REQUEST_TIMED_OUT: the change is still committing",
                  "NOT_LEADER_OR_FOLLOWER: no leader yet"]
    change(time.monotonic() + 60)
    assert answers == [] and len(asked) == 5
    answers[:] = ["VOTER_NOT_FOUND: no voter 2", "never asked"]
    with pytest.raises(mq.QuorumToolError, match="VOTER_NOT_FOUND"):
        change(time.monotonic() + 60)
    assert answers == ["never asked"]
    answers[:] = ["REQUEST_TIMED_OUT: still catching up"] * 2
    with pytest.raises(mq.QuorumToolError, match="REQUEST_TIMED_OUT"):
        change(time.monotonic() - 1)  # past the deadline: the failure is the answer
