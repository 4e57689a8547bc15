"""Fault schedules on a three-node cluster under the queue workload: no anomaly, full ISR after.

Each test starts a fresh LocalCluster (three nodes with both roles, free
ports, `FAST_FAILOVER` overrides), once with PLAINTEXT and once with SASL_SSL
on every listener (issue 16: a secured cluster passes the same schedules),
runs the idempotent acks=all workload on a topic with replication factor 3
and min.insync.replicas 2, injects one schedule of faults from
tests/faults/schedules.py (kill -9 of the leader, of the controller, of the
node that is both, SIGSTOP past the session timeout, rolling restart, two
nodes down, ...), and then requires:

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


SECURITY = {
    # Every listener PLAINTEXT.
    "plaintext": None,
    # As `scripts/cluster start --sasl-ssl`: SASL_SSL on every listener (clients and
    # replication over SCRAM-SHA-512, raft and the controller channel over PLAIN, all
    # on TLS); the producers, the final reader and the probes all authenticate.
    "sasl_ssl": SaslSsl("alice", "alice-secret"),
}


CASES = [(security, schedule) for security in SECURITY for schedule in SCHEDULES]


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalCluster]:
    """A started three-node cluster on free ports, PLAINTEXT or SASL_SSL (the
    SECURITY key given as the test's parameter) between all nodes and clients;
    killed at teardown."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides=FAST_FAILOVER, sasl_ssl=SECURITY[request.param]) as c:
        c.start(CLUSTER_START_TIMEOUT_S)
        yield c


@pytest.mark.slow
@pytest.mark.parametrize(("cluster", "schedule"), CASES, indirect=["cluster"],
                         ids=[f"{security}-{schedule.name}" for security, schedule in CASES])
def test_schedule(cluster: LocalCluster, tmp_path: Path, schedule: Schedule) -> None:
    """Under this fault schedule, on a PLAINTEXT or an all-SASL_SSL cluster, no
    acknowledged write is lost, duplicated, reordered or overwritten, and every
    partition ends with full ISR."""
    result = run_schedule(cluster, schedule, tmp_path)
    report = result.report
    assert report.valid, f"{schedule.name}: {report.summary()}\nhistory: {result.history_path}"
    assert report.counts.ok > 0
    not_full = {p: (s.leader, s.replicas, s.isr) for p, s in result.partitions.items()
                if not s.full_isr or len(s.replicas) != 3 or s.leader < 0}
    assert result.partitions and not not_full, \
        f"{schedule.name}: partitions not back to full ISR: {not_full or 'no answer'}"


def test_at_least_ten_schedules() -> None:
    """The suite holds at least ten distinct fault schedules, each documented."""
    assert len({s.name for s in SCHEDULES}) == len(SCHEDULES) >= 10
    assert all(s.description for s in SCHEDULES)
