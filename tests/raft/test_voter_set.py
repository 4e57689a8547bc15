"""The voter set as the log defines it (KIP-853): history, codecs, snapshots."""

from __future__ import annotations

import random
from pathlib import Path

from kraft.raft import QuorumConfig, RaftCore, batches
from kraft.raft.disk_log import DiskLog
from kraft.raft.memory_log import MemoryLog
from kraft.raft.types import Entry, KRaftVersionRecord, OffsetAndEpoch, VoterNode, VotersRecord
from kraft.raft.voter_set import VoterSetHistory

DIR = "AAAAAAAAAAAAAAAAAAAD6Q"
A = VotersRecord((VoterNode(1, DIR, (("CONTROLLER", "h1", 9093),)),))
AB = VotersRecord((*A.voters, VoterNode(2, None, (("CONTROLLER", "h2", 9093),), 0, 1)))


def test_latest_record_wins_and_truncation_reverts() -> None:
    """The latest VotersRecord is in force, committed or not; truncating below it
    reverts to the one before, never past the base."""
    history = VoterSetHistory(A, 1)
    assert history.appended([Entry(0, 1, b"x"), Entry(1, 1, control=AB)])
    assert history.latest == AB and history.latest_offset == 1
    assert history.voters_at(1) == A and history.voters_at(2) == AB
    assert history.truncated(1)
    assert history.latest == A and history.latest_offset == -1
    assert not history.truncated(0)


def test_compaction_keeps_the_set_in_force_at_the_log_start() -> None:
    """Moving the log start past records folds the last of them into the base."""
    history = VoterSetHistory(A, 1)
    history.appended([Entry(3, 1, control=AB), Entry(5, 1, control=A)])
    history.compact_before(4)
    assert history.voters_at(4) == AB and history.latest == A
    assert history.records_at(4) == (KRaftVersionRecord(1), AB)


def test_static_quorum_snapshots_carry_nothing() -> None:
    """kraft.version 0: the voters come from controller.quorum.voters, not snapshots."""
    assert VoterSetHistory(VotersRecord.of_ids((1, 2, 3)), 0).records_at(10) == ()


def test_control_records_round_trip_as_kafka_batches() -> None:
    """VotersRecord and KRaftVersionRecord entries encode as Kafka control batches
    and decode to the same values (directory ids, endpoints, versions)."""
    entries = [Entry(7, 2, control=KRaftVersionRecord(1)), Entry(8, 2, control=AB)]
    assert list(batches.decode_entries(batches.encode_entries(entries, 0))) == entries


def test_snapshot_carries_quorum_records() -> None:
    """A snapshot file written with the quorum records gives them back, and its
    data payloads are unchanged."""
    data = batches.encode_snapshot([b"a", b"b"], 0, (KRaftVersionRecord(1), AB))
    assert batches.snapshot_quorum_records(data) == (KRaftVersionRecord(1), AB)
    assert batches.decode_snapshot(data) == [b"a", b"b"]
    log = MemoryLog()
    log.append([Entry(0, 1, b"x")])
    log.create_snapshot(OffsetAndEpoch(1, 1), b"state", (KRaftVersionRecord(1), A))
    assert log.snapshot_quorum_records(OffsetAndEpoch(1, 1)) == (KRaftVersionRecord(1), A)
    assert log.snapshot_data(OffsetAndEpoch(1, 1)) == b"state"


def test_a_restart_takes_the_voters_from_the_snapshot_and_the_log(tmp_path: Path) -> None:
    """On disk: a snapshot carrying {1, 2} at the log start and a later VotersRecord
    {1} in the log. A core restarted over it (bootstrap set {1}) has {1, 2} in force at
    the snapshot and {1} at the end; the snapshot file gives the records back."""
    log = DiskLog(tmp_path)
    log.append([Entry(0, 1, b"a"), Entry(1, 1, control=AB)])
    log.flush()
    snapshot = OffsetAndEpoch(2, 1)
    log.write_snapshot(snapshot, batches.encode_snapshot([b"s"], 0, (KRaftVersionRecord(1), AB)))
    log.delete_before_snapshot(snapshot)
    log.append([Entry(2, 1, control=A)])
    log.flush()
    log.close()
    log = DiskLog(tmp_path)
    try:
        assert log.snapshot_quorum_records(snapshot) == (KRaftVersionRecord(1), AB)
        config = QuorumConfig(node_id=1, voters=(1,), kraft_version=1, voter_nodes=A.voters)
        core = RaftCore(config, log, None, random.Random(0), 0)
        assert core.voter_history.voters_at(2) == AB and core.voter_set == A
        assert core.quorum_records_at(2) == (KRaftVersionRecord(1), AB)
    finally:
        log.close()
