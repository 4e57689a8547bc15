"""A Kafka Streams application against kraft: a stateful word count with a
repartition topic and a changelog, at least once; exactly_once_v2 waits for
transactions (issue 15)."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import Target, unique
from tests.compat.kafka_dist import KafkaDist

FIRST = ["the quick brown fox jumps over the lazy dog",
         "The dog barks; the fox runs.",
         "a b c a b a"] * 20
SECOND = ["one more fox", "and one more dog", "Z z z"] * 10
STREAMS_TIMEOUT_S = 240.0


def words(lines: list[str]) -> dict[str, int]:
    """What the application must count: lower-cased runs of letters and digits."""
    return dict(Counter(w for line in lines for w in re.split(r"[^a-z0-9]+", line.lower()) if w))


def run_app(kafka: KafkaDist, target: Target, tmp: Path, app: str, guarantee: str,
            produce: list[str], expect: list[str], state_dir: Path) -> dict[str, Any]:
    """One run of kraft.compat.StreamsCount; its report (see StreamsCount.java)."""
    produce_file = tmp / f"{app}-produce-{len(expect)}.txt"
    expect_file = tmp / f"{app}-expect-{len(expect)}.txt"
    produce_file.write_text("\n".join(produce) + "\n")
    expect_file.write_text("\n".join(expect) + "\n")
    proc = subprocess.run(
        kafka.command("kraft.compat.StreamsCount", target.bootstrap,
                      str(min(3, target.brokers)), app, guarantee, f"{app}-input",
                      f"{app}-output", str(state_dir), str(produce_file), str(expect_file)),
        text=True, capture_output=True, timeout=STREAMS_TIMEOUT_S, stdin=subprocess.DEVNULL)
    reports = [line for line in proc.stdout.splitlines() if line.startswith("STREAMS ")]
    if proc.returncode != 0 or not reports:
        pytest.fail(f"StreamsCount exited {proc.returncode}:\n{proc.stderr[-6000:]}")
    return json.loads(reports[-1].removeprefix("STREAMS "))


def check_internal_topics(report: dict[str, Any], app: str) -> None:
    """The changelog is compacted, the repartition topic keeps records until Streams
    purges them (retention.ms -1), each with the input's two partitions."""
    topics = report["internal_topics"]
    assert sorted(topics) == [f"{app}-word-counts-changelog", f"{app}-words-repartition"]
    changelog = topics[f"{app}-word-counts-changelog"]
    repartition = topics[f"{app}-words-repartition"]
    assert changelog["cleanup.policy"] == "compact" and changelog["partitions"] == 2
    assert repartition["cleanup.policy"] == "delete" and repartition["retention.ms"] == "-1"
    assert repartition["partitions"] == 2


@pytest.mark.slow
def test_word_count_at_least_once(kafka: KafkaDist, target: Target, tmp_path: Path) -> None:
    """The counts on the output topic equal the words sent, the internal topics are
    created as Streams asks, the input offsets are committed; a second run from
    an empty state directory restores the counts from the changelog and goes on."""
    app = unique("wordcount")
    first = run_app(kafka, target, tmp_path, app, "at_least_once", FIRST, FIRST,
                    tmp_path / "state-1")
    assert first["errors"] == [] and first["state_at_end"] == "RUNNING"
    assert first["counts"] == words(FIRST) and first["expected_reached"]
    assert "RUNNING" in first["states"] and first["closed"]  # closed and left the group
    check_internal_topics(first, app)
    inputs = {k: v for k, v in first["committed"].items() if k.startswith(f"{app}-input-")}
    assert inputs == first["input_end_offsets"]
    if target.brokers > 1:
        return  # the restore below is the same on one node; the cluster run checks replication
    second = run_app(kafka, target, tmp_path, app, "at_least_once", SECOND, FIRST + SECOND,
                     tmp_path / "state-2")
    assert second["errors"] == [] and second["state_at_end"] == "RUNNING" and second["closed"]
    assert second["counts"] == words(FIRST + SECOND)
    inputs = {k: v for k, v in second["committed"].items() if k.startswith(f"{app}-input-")}
    assert inputs == second["input_end_offsets"]


@pytest.mark.slow
def test_word_count_exactly_once_v2(kafka: KafkaDist, dev: Target, tmp_path: Path) -> None:
    """With processing.guarantee=exactly_once_v2 the application runs and its
    committed output holds exactly the counts of the words sent."""
    app = unique("wordcount-eos")
    report = run_app(kafka, dev, tmp_path, app, "exactly_once_v2", FIRST, FIRST,
                     tmp_path / "state")
    assert report["errors"] == [], report["errors"]
    assert report["counts"] == words(FIRST)
    check_internal_topics(report, app)
