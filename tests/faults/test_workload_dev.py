"""The queue workload and checker end to end against one `kraft dev` node (replication factor 1).

These runs check the harness itself as much as the broker: producers with
idempotence and acks=all send unique values at a steady rate to a
three-partition topic while the test waits (or restarts the node), then the
final read and the checker must find zero anomalies. On a healthy node every
send must also be acknowledged; across a restart (SIGTERM, or kill -9 on the
same data directory) every acknowledged value must still be there exactly
once and in order, and the producers must make progress again afterwards.
Each run's history is kept as JSON lines in the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faults.history import History
from tests.faults.workload import Workload, WorkloadConfig, create_topic, read_and_check
from tests.integration.conftest import dev_factory  # noqa: F401 -- the fixture, shared
from tests.integration.dev import DevNode

# After kill -9 the restarted broker's registration is refused until the old
# broker session times out (as in Kafka); a short session keeps the test quick.
SHORT_SESSION = ("broker.session.timeout.ms=2000", "broker.heartbeat.interval.ms=500")
PROGRESS_TIMEOUT_S = 60.0  # a liveness bound on a loaded 2-core machine


def _config(node: DevNode, client: str) -> WorkloadConfig:
    return WorkloadConfig(bootstrap=node.bootstrap, topic="queue", partitions=3,
                          replication_factor=1, min_insync_replicas=1, producers=3,
                          rate=50.0, client=client)


@pytest.mark.parametrize("client", ["confluent", "kafka-python", "mixed"])
def test_healthy_node_every_send_acknowledged_once(
    dev_factory: Any, tmp_path: Path, client: str  # noqa: F811
) -> None:
    """On a healthy dev node every send of every producer is acknowledged and read
    back exactly once, at its acknowledged offset, in send order."""
    node: DevNode = dev_factory()
    config = _config(node, client)
    create_topic(config)
    with History(tmp_path / "history.jsonl") as history:
        with Workload(config, history) as workload:
            assert workload.wait_acks(300, PROGRESS_TIMEOUT_S), "no progress"
        report = read_and_check(config, history)
    assert report.valid, f"{report.summary()}\nhistory: {history.path}"
    c = report.counts
    assert (c.failed, c.unknown) == (0, 0), report.summary()
    assert c.ok == c.sends == c.read >= 300


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_restart_on_same_data_loses_nothing(
    dev_factory: Any, tmp_path: Path, how: str  # noqa: F811
) -> None:
    """Producers keep sending while the only node is stopped (SIGTERM) or killed (-9)
    and restarted on the same data directory: no acknowledged value is lost,
    duplicated or reordered, and acknowledgements resume after the restart."""
    node: DevNode = dev_factory(*SHORT_SESSION, data_dir=tmp_path / "kept")
    config = _config(node, "mixed")
    create_topic(config)
    with History(tmp_path / "history.jsonl") as history:
        with Workload(config, history) as workload:
            assert workload.wait_acks(200, PROGRESS_TIMEOUT_S), "no progress before the fault"
            history.note(f"{how} dev node")
            if how == "SIGTERM":
                node.stop()
            else:
                node.kill()
            node.start()
            history.note("dev node restarted")
            assert workload.wait_acks(200, PROGRESS_TIMEOUT_S), "no progress after restart"
        report = read_and_check(config, history)
    assert report.valid, f"{report.summary()}\nhistory: {history.path}"
    assert report.counts.ok >= 400
