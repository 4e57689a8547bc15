"""Fault schedules on a three-node cluster under the queue workload: no anomaly, full ISR after.

Each test starts a fresh LocalCluster (three nodes with both roles, free
ports, `FAST_FAILOVER` overrides), runs the idempotent acks=all workload on
a topic with replication factor 3 and min.insync.replicas 2, injects one
schedule of faults from tests/faults/schedules.py (kill -9 of the leader,
of the controller, of the node that is both, SIGSTOP past the session
timeout, rolling restart, two nodes down, ...), and then requires:

- zero anomalies from the checker (nothing acknowledged lost, nothing
  duplicated, no offset with two values, no reordering within a producer
  session and partition, no failed write visible);
- every partition back to full ISR: leader known and ISR = its 3 replicas;
- the producers acknowledged again after the faults (run_schedule raises
  ScheduleError otherwise).

The history of each run is left in the test's tmp_path as <schedule>.jsonl.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.tools.cluster_security import SaslSsl
from kraft.tools.local_cluster import LocalCluster
from tests.faults.schedules import FAST_FAILOVER, SCHEDULES, Schedule, run_schedule

CLUSTER_START_TIMEOUT_S = 60.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A started three-node cluster on free ports; killed at teardown."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides=FAST_FAILOVER) as c:
        c.start(CLUSTER_START_TIMEOUT_S)
        yield c


@pytest.mark.slow
@pytest.mark.parametrize("schedule", SCHEDULES, ids=[s.name for s in SCHEDULES])
def test_schedule(cluster: LocalCluster, tmp_path: Path, schedule: Schedule) -> None:
    """Under this fault schedule no acknowledged write is lost, duplicated,
    reordered or overwritten, and every partition ends with full ISR."""
    result = run_schedule(cluster, schedule, tmp_path)
    report = result.report
    assert report.valid, f"{schedule.name}: {report.summary()}\nhistory: {result.history_path}"
    assert report.counts.ok > 0
    not_full = {p: (s.leader, s.replicas, s.isr) for p, s in result.partitions.items()
                if not s.full_isr or len(s.replicas) != 3 or s.leader < 0}
    assert result.partitions and not not_full, \
        f"{schedule.name}: partitions not back to full ISR: {not_full or 'no answer'}"


@pytest.mark.slow
def test_schedule_over_sasl_ssl(tmp_path: Path) -> None:
    """A cluster made by `scripts/cluster start --sasl-ssl` (SASL_SSL on every listener:
    replication over SCRAM-SHA-512, raft and the controller channel over PLAIN, both
    on TLS) loses, duplicates and reorders nothing while the partition leader and the
    active controller are killed, and returns to full ISR; the producers, the final
    reader and the probes all authenticate."""
    schedule = next(s for s in SCHEDULES if s.name == "kill_leader_and_controller")
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides=FAST_FAILOVER,
                      sasl_ssl=SaslSsl("alice", "alice-secret")) as cluster:
        cluster.start(CLUSTER_START_TIMEOUT_S)
        result = run_schedule(cluster, schedule, tmp_path)
    assert result.report.valid, f"{result.report.summary()}\nhistory: {result.history_path}"
    assert result.report.counts.ok > 0
    assert all(s.full_isr and len(s.replicas) == 3 for s in result.partitions.values())


def test_at_least_ten_schedules() -> None:
    """The suite holds at least ten distinct fault schedules, each documented."""
    assert len({s.name for s in SCHEDULES}) == len(SCHEDULES) >= 10
    assert all(s.description for s in SCHEDULES)
