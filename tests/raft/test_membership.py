"""AddRaftVoter / RemoveRaftVoter / UpdateRaftVoter in the raft core (KIP-853): Kafka's
refusals with Kafka's messages, a caught-up observer becoming a voter, a leader that
removes itself resigning once the change commits, and voters keeping their own entry
up to date."""

from __future__ import annotations

import dataclasses

from kraft.raft import Leader, MemoryLog, QuorumConfig
from kraft.raft.messages import (
    AddRaftVoterRequest,
    AddRaftVoterResponse,
    ErrorCode,
    RemoveRaftVoterRequest,
    RemoveRaftVoterResponse,
    UpdateRaftVoterRequest,
)
from kraft.raft.types import VoterNode, VotersRecord
from tests.raft.harness import Harness
from tests.raft.schedule import directory_id
from tests.raft.test_core import commit_everywhere

ADMIN = -1
ENDPOINT = (("CONTROLLER", "localhost", 9093),)


def add(node_id: int) -> AddRaftVoterRequest:
    return AddRaftVoterRequest(cluster_id=None, timeout_ms=0, voter_id=node_id,
                               voter_directory_id=directory_id(node_id), listeners=ENDPOINT)


def remove(node_id: int, directory: str | None = None) -> RemoveRaftVoterRequest:
    return RemoveRaftVoterRequest(cluster_id=None, voter_id=node_id,
                                  voter_directory_id=directory or directory_id(node_id))


def dynamic(spares: tuple[int, ...] = (201,)) -> Harness:
    """Node 1 formatted --standalone (kraft.version 1), spares --no-initial-controllers."""
    h = Harness(voters=1)
    h.nodes[1].config = QuorumConfig(
        node_id=1, voters=(1,), kraft_version=1, directory_id=directory_id(1),
        voter_nodes=(VoterNode(1, directory_id(1), ENDPOINT),))
    h.nodes[1].log, h.nodes[1].stored = MemoryLog(), None
    for spare in spares:
        h.nodes[spare] = type(h.nodes[1])(spare, QuorumConfig(
            node_id=spare, voters=(), kraft_version=1, directory_id=directory_id(spare),
            bootstrap_servers=(1,)))
    h.pending.clear()
    for node_id in h.nodes:
        h.start(node_id)
    return h


def answer(h: Harness) -> AddRaftVoterResponse | RemoveRaftVoterResponse:
    """Run until the leader answers the admin's parked change."""
    def answered() -> bool:
        return any(p.out.destination == ADMIN for p in h.pending)
    h.run_until(answered)
    found = next(p for p in h.pending if p.out.destination == ADMIN)
    h.pending.remove(found)
    assert isinstance(found.out.message, AddRaftVoterResponse | RemoveRaftVoterResponse)
    return found.out.message


def test_static_quorum_refuses_changes_as_kafka_does() -> None:
    """kraft.version 0 (controller.quorum.voters): UNSUPPORTED_VERSION with Kafka's message."""
    h = Harness(voters=1)
    commit_everywhere(h, h.elect(), b"x")
    response = h.ask(1, ADMIN, add(2))
    assert response == AddRaftVoterResponse(
        error_code=ErrorCode.unsupported_version,
        error_message="Cluster doesn't support adding voter because the kraft.version "
                      "feature is 0")


def test_first_leader_writes_the_bootstrap_set_and_spares_learn_it() -> None:
    """The first leader appends KRaftVersion and Voters records after its LeaderChange;
    a spare formatted without a voter set learns the set by fetching."""
    h = dynamic()
    commit_everywhere(h, h.elect(), b"x")
    assert h[201].voter_set == h[1].voter_set == VotersRecord(
        (VoterNode(1, directory_id(1), ENDPOINT),))
    assert h[201].kraft_version == 1 and not h[201].is_voter


def test_refusals_name_the_replica_as_kafka_does() -> None:
    """A lagging (never fetched) replica, a duplicate voter and an unknown directory id
    are refused with Kafka's codes and messages, and nothing is appended."""
    h = dynamic()
    commit_everywhere(h, h.elect(), b"x")
    end = h.nodes[1].log.end_offset
    key = f"ReplicaKey(id=202, directoryId=Optional[{directory_id(202)}])"
    assert h.ask(1, ADMIN, add(202)) == AddRaftVoterResponse(
        error_code=ErrorCode.request_timed_out,
        error_message=f"Aborted add voter operation for {key} since it is lagging behind")
    one = f"[ReplicaKey(id=1, directoryId=Optional[{directory_id(1)}])]"
    assert h.ask(1, ADMIN, add(1)) == AddRaftVoterResponse(
        error_code=ErrorCode.duplicate_voter,
        error_message=f"The voter id for ReplicaKey(id=1, directoryId=Optional["
                      f"{directory_id(1)}]) is already part of the set of voters {one}.")
    wrong = directory_id(999)
    assert h.ask(1, ADMIN, remove(1, wrong)) == RemoveRaftVoterResponse(
        error_code=ErrorCode.voter_not_found,
        error_message=f"Cannot remove voter ReplicaKey(id=1, directoryId=Optional[{wrong}]) "
                      f"from the set of voters {one}")
    assert h.ask(1, ADMIN, remove(1)) == RemoveRaftVoterResponse(
        error_code=ErrorCode.voter_not_found,
        error_message=f"Cannot remove voter ReplicaKey(id=1, directoryId=Optional["
                      f"{directory_id(1)}]) from the set of voters {one}")
    assert h.nodes[1].log.end_offset == end
    assert h.ask(201, ADMIN, add(202)) == AddRaftVoterResponse(
        error_code=ErrorCode.not_leader_or_follower)


def test_add_then_remove_the_leader() -> None:
    """A caught-up observer is added (answered once the VotersRecord commits, a second
    change meanwhile refused); the leader then removes itself, the change commits and
    it resigns, and the new voter takes over."""
    h = dynamic()
    commit_everywhere(h, h.elect(), b"x")
    assert h.ask(1, ADMIN, add(201)) is None  # parked until committed
    assert h.ask(1, ADMIN, remove(1)) == RemoveRaftVoterResponse(
        error_code=ErrorCode.request_timed_out,
        error_message="Request timed out waiting for leader to handle previous voter "
                      "change request")
    assert answer(h) == AddRaftVoterResponse(error_code=ErrorCode.none)
    h.run_until(lambda: h[201].is_voter)
    assert h[1].voters == h[201].voters == (1, 201)
    assert h.ask(1, ADMIN, remove(1)) is None
    assert answer(h) == RemoveRaftVoterResponse(error_code=ErrorCode.none)
    h.run_until(lambda: isinstance(h[201].role, Leader))
    assert h[201].voters == (201,) and not h[1].is_voter
    commit_everywhere(h, 201, b"after")


def test_a_removed_replica_holding_the_only_copy_of_the_change_completes_it() -> None:
    """Voters {1, 201}; leader 1 removes itself and crashes before 201 fetches the
    record. 201 (still {1, 201} by its log) cannot win without 1, and 1 is no voter by
    its own log: 1 still campaigns while the change is uncommitted (Raft's rule),
    counting only 201's vote, commits the change, resigns, and 201 leads alone."""
    h = dynamic()
    commit_everywhere(h, h.elect(), b"x")
    assert h.ask(1, ADMIN, add(201)) is None
    assert answer(h) == AddRaftVoterResponse(error_code=ErrorCode.none)
    h.run_until(lambda: h[201].is_voter)
    assert h.ask(1, ADMIN, remove(1)) is None
    h.crash(1, keep_unflushed=1)  # the record survives on 1 only
    assert h[201].voters == (1, 201)
    h.start(1)
    assert not h[1].is_voter and h[1].quorum.is_electable
    h.run_until(lambda: isinstance(h[201].role, Leader) and h[201].voters == (201,))
    assert not h[1].is_voter and not h[1].quorum.is_electable
    commit_everywhere(h, 201, b"after")


def _sent(h: Harness, node_id: int, kind: type) -> int:
    return sum(isinstance(out.message, kind)
               for ready in h.nodes[node_id].readies for out in ready.messages)


def test_a_voter_restarted_on_another_endpoint_updates_its_entry() -> None:
    """KIP-853: a follower whose entry in the voter set no longer matches its controller
    endpoint sends UpdateRaftVoter to the leader (once the update period is over), which
    records the new endpoint with the same voters; one whose entry matches sends none."""
    h = dynamic()
    for node_id in (1, 201):
        h.nodes[node_id].config = dataclasses.replace(h.nodes[node_id].config,
                                                      local_listeners=ENDPOINT)
    h.crash(201)
    h.start(201)
    commit_everywhere(h, h.elect(), b"x")
    assert h.ask(1, ADMIN, add(201)) is None
    assert answer(h) == AddRaftVoterResponse(error_code=ErrorCode.none)
    h.run_until(lambda: h[201].is_voter)
    h.tick(10 * h[1].config.fetch_timeout_ms)
    assert _sent(h, 201, UpdateRaftVoterRequest) == 0  # its entry is right
    moved = (("CONTROLLER", "localhost", 9193),)
    h.crash(201)
    h.nodes[201].config = dataclasses.replace(h.nodes[201].config, local_listeners=moved)
    h.start(201)
    h.run_until(lambda: (node := h[1].voter_set.voter(201)) is not None
                and node.endpoints == moved)
    assert isinstance(h[1].role, Leader) and h[1].voters == (1, 201)
    assert _sent(h, 201, UpdateRaftVoterRequest) == 1
    commit_everywhere(h, 1, b"after")
    assert h[201].voter_set == h[1].voter_set


def test_a_leader_restarted_on_another_endpoint_corrects_its_entry() -> None:
    """A leader whose own entry is out of date writes the corrected voter set right
    after its LeaderChange (Kafka's appendStartOfEpochControlRecords)."""
    h = dynamic(spares=())
    commit_everywhere(h, h.elect(), b"x")
    moved = (("CONTROLLER", "localhost", 9193),)
    h.crash(1)
    h.nodes[1].config = dataclasses.replace(h.nodes[1].config, local_listeners=moved)
    h.start(1)
    offset = commit_everywhere(h, h.elect(), b"y")
    assert h[1].voter_set == VotersRecord((VoterNode(1, directory_id(1), moved),))
    assert h[1].high_watermark > offset


def test_add_acknowledged_when_appended_if_asked() -> None:
    """AddRaftVoter with ack_when_committed false (v1, KIP-1186) is answered as soon as
    the leader appends the new set, before it commits; a second change is refused
    until it commits, and it then commits as usual."""
    h = dynamic()
    commit_everywhere(h, h.elect(), b"x")
    request = AddRaftVoterRequest(cluster_id=None, timeout_ms=0, voter_id=201,
                                  voter_directory_id=directory_id(201), listeners=ENDPOINT,
                                  ack_when_committed=False)
    appended_at = h.nodes[1].log.end_offset
    hwm = h[1].high_watermark
    assert h.ask(1, ADMIN, request) == AddRaftVoterResponse(error_code=ErrorCode.none)
    assert h[1].high_watermark == hwm <= appended_at  # answered before the set committed
    assert h.ask(1, ADMIN, remove(1)) == RemoveRaftVoterResponse(
        error_code=ErrorCode.request_timed_out,
        error_message=f"Request timed out waiting for voters to commit the latest voter "
                      f"change at Optional[{appended_at}] with HWM {hwm}")
    h.run_until(lambda: h[201].is_voter and h[1].high_watermark > appended_at)
    assert h[1].voters == h[201].voters == (1, 201)
