"""scripts/vs-kafka's differential check, end to end on a handful of scenarios: kraft
and Apache Kafka started one after the other, the same requests sent to both, the
answers compared and reported. Slow: it starts a Kafka JVM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.kafka_dist import KafkaDist

ROOT = Path(__file__).resolve().parents[2]
# Scenarios where kraft answers as Kafka 4.4 does, every version: a produce, a
# fetch of what was produced, topic metadata, a refused topic name, a group
# join, and bytes that are no request.
SAME = ("produce/acks-all", "fetch/from-start", "metadata/known-topic",
        "create-topics/illegal-name-space", "join-group/with-assigned-member-id",
        "raw/garbage")


@pytest.mark.slow
def test_vs_kafka_differential_smoke(kafka: KafkaDist, tmp_path: Path) -> None:
    """scripts/vs-kafka --only diff runs the chosen scenarios on both systems, for
    every version kraft advertises, and finds their answers the same."""
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "vs_kafka.py"), "--only", "diff",
         "--scenarios", ",".join(SAME), "--json", str(report_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["kafka"]["version"] == kafka.version
    by_name = {s["name"]: s for s in report["scenarios"]}
    assert sorted(by_name) == sorted(SAME)
    kraft_versions = report["kraft"]["advertised"]
    for name, result in by_name.items():
        assert result["versions"], f"{name}: no version sent"
        assert result["status"] == "same", (name, result["differences"][:3],
                                            result["setup_failures"])
        for side in ("kafka", "kraft"):
            answered = report[side]["answers"][name]
            assert sorted(int(v) for v in answered) == result["versions"], (side, name)
    produce = by_name["produce/acks-all"]["versions"]
    assert produce[-1] == kraft_versions["Produce"][1], "the newest Produce kraft advertises"
    assert "| produce/acks-all | Produce |" in done.stdout
