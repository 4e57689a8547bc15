"""Transactions under faults on a three-node cluster: the Jepsen-style transactional queue.

Each test starts a fresh LocalCluster (three nodes with both roles, free
ports, `TXN_OVERRIDES`), runs the transactional workload of
tests/faults/txn_workload.py (transactional producers, several records per
transaction across the partitions of a replication-factor-3 topic, a quarter
aborted, a live read_committed reader), injects one schedule of
tests/faults/txn_schedules.py (kill -9 of the transaction coordinator during
a commit, of a partition leader while markers are written, SIGSTOP of the
coordinator past the session timeout, and the kill/pause schedules of the
idempotent queue), and then requires:

- every transaction ended (the last stable offset reached the high watermark
  on every partition) and zero anomalies from the checker: no aborted read
  (G1a), no committed write lost, no torn transaction, no duplicate, no
  inconsistent or nonmonotonic offset, nothing unexpected;
- every partition back to full ISR, and all replicas of each partition
  identical (batch by batch) below the high watermark.

The history of each run is left in the test's tmp_path as <schedule>.jsonl.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.tools.local_cluster import LocalCluster
from tests.faults.txn_schedules import (
    TXN_OVERRIDES,
    TXN_SCHEDULES,
    TxnSchedule,
    run_txn_schedule,
)

CLUSTER_START_TIMEOUT_S = 60.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A started three-node cluster on free ports; killed at teardown."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides=TXN_OVERRIDES) as c:
        c.start(CLUSTER_START_TIMEOUT_S)
        yield c


@pytest.mark.slow
@pytest.mark.parametrize("schedule", TXN_SCHEDULES, ids=[s.name for s in TXN_SCHEDULES])
def test_txn_schedule(cluster: LocalCluster, tmp_path: Path, schedule: TxnSchedule) -> None:
    """Under this fault schedule every transaction ends committed or aborted on every
    replica, read_committed readers see no aborted, lost, torn, duplicated or
    reordered data, and every partition ends with full ISR and identical replicas."""
    result = run_txn_schedule(cluster, schedule, tmp_path)
    report = result.report
    assert report.valid, f"{schedule.name}: {report.summary()}\nhistory: {result.history_path}"
    assert report.counts.committed > 0 and report.counts.aborted > 0
    not_full = {p: (s.leader, s.replicas, s.isr) for p, s in result.partitions.items()
                if not s.full_isr or len(s.replicas) != 3 or s.leader < 0}
    assert result.partitions and not not_full, \
        f"{schedule.name}: partitions not back to full ISR: {not_full or 'no answer'}"
    assert result.replica_differences == [], "\n".join(result.replica_differences)


def test_txn_schedules_documented() -> None:
    """The transactional schedules are distinct, documented, and include the three of issue 15."""
    names = [s.name for s in TXN_SCHEDULES]
    assert len(set(names)) == len(names)
    assert {"kill_coordinator_during_commit", "kill_leader_during_markers",
            "pause_coordinator"} <= set(names)
    assert all(s.description for s in TXN_SCHEDULES)
