"""Run a fault schedule of the fault tier against Apache Kafka 4.4 instead of kraft.

    .venv/bin/python scripts/faults_vs_kafka.py [--runs 3] [--schedule kill_all]

The same schedule (tests/faults/schedules.py), the same idempotent queue workload
(librdkafka and kafka-python producers side by side) and the same checker, on a
three-node Apache Kafka 4.4 cluster (both roles on each node, from the compat
tier's Maven cache, tests/compat/kafka_dist.py) with the fault tier's session
settings (FAST_FAILOVER). Prints each run's verdict and anomaly counts, to set
beside kraft's runs of the schedule: an anomaly both show is the clients', one
only kraft shows is kraft's (issue 13's producer-epoch duplicates).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.compat import kafka_dist
from tests.compat.kafka_node import KafkaCluster
from tests.faults.schedules import BY_NAME, FAST_FAILOVER, run_schedule


class KafkaUnderFaults(KafkaCluster):
    """KafkaCluster with the few LocalCluster members the fault schedules use."""

    client_listener = "PLAINTEXT"
    sasl_ssl = None

    def tool_security(self, listener: str) -> None:
        return None

    def restart(self, node_id: int, timeout: float = 120) -> None:
        self.kill(node_id)
        self.start_node(node_id)
        self.wait_unfenced([node_id], timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--schedule", default="kill_all", choices=sorted(BY_NAME))
    args = parser.parse_args()
    schedule = BY_NAME[args.schedule]
    dist = kafka_dist.ensure()
    overrides = {k: v for k, v in FAST_FAILOVER.items() if not k.startswith("kraft.")}
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as d, KafkaUnderFaults(
                dist, Path(d) / "kafka", nodes=3, overrides=overrides) as cluster:
            cluster.start()
            result = run_schedule(cluster, schedule, Path(d))  # type: ignore[arg-type]
            print(f"run {i + 1}: {schedule.name} on Apache Kafka 4.4 "
                  f"({result.duration_s:.0f} s): {result.report.summary()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
