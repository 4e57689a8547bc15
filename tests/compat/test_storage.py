"""The bootstrap checkpoint both ways: what Kafka 4.4's kafka-storage format --standalone
writes, kraft reads as the voter set; what `kraft storage format` writes, Kafka's
DumpLogSegments decodes as the same KRaftVersion and KRaftVoters records."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import confluent_kafka

from kraft.raft import bootstrap_checkpoint
from kraft.raft.bootstrap_checkpoint import Voter
from tests.compat.conftest import TOOL_TIMEOUT_S, run_tool
from tests.compat.kafka_dist import KafkaDist
from tests.kraft.test_cli import KRAFT
from tests.kraft.test_storage_tool import (
    CLUSTER_ID,
    controller_port,
    quickstart,
    storage,
    wait_ready,
)
from tests.ports import free_port


def test_kraft_reads_the_voter_set_kafka_formatted(kafka: KafkaDist, tmp_path: Path) -> None:
    """kafka-storage format --standalone on the quickstart config records this node with
    its metadata directory's id and advertised controller endpoint, as kraft reads it."""
    config = quickstart(tmp_path)
    run_tool(kafka, "kafka-storage", "format", "-t", CLUSTER_ID, "-c", str(config),
             "--standalone")
    meta = (tmp_path / "logs1" / "meta.properties").read_text()
    directory_id = re.search(r"directory\.id=(\S+)", meta)
    assert directory_id is not None
    assert bootstrap_checkpoint.read(tmp_path / "logs1") == [
        Voter(1, directory_id[1], "CONTROLLER", "localhost", controller_port(config))]


def test_kafka_decodes_the_checkpoint_kraft_wrote(kafka: KafkaDist, tmp_path: Path) -> None:
    """Kafka's DumpLogSegments reads kraft's bootstrap checkpoint as a snapshot at 0-0
    with a header, kraft.version 1, the voters given to --initial-controllers, a footer."""
    config = quickstart(tmp_path)
    listed = "1@localhost:19093:4znU-ou9Taa06bmEJxsjnw,2@c2:19096:MkU3OEVBNTcwNTJENDM2Qg"
    assert storage("format", "-t", CLUSTER_ID, "-c", str(config), "-I", listed).returncode == 0
    file = bootstrap_checkpoint.path(tmp_path / "logs1")
    out = subprocess.run(
        kafka.command("org.apache.kafka.tools.DumpLogSegments", "--cluster-metadata-decoder",
                      "--files", str(file)),
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=True).stdout
    assert "Snapshot end offset: 0, epoch: 0" in out
    kinds = re.findall(r"headerKeys: \[\] (\w+) ", out)
    assert kinds == ["SnapshotHeader", "KRaftVersion", "KRaftVoters", "SnapshotFooter"]
    assert 'KRaftVersion {"version":0,"kRaftVersion":1}' in out
    voters = json.loads(out.split("KRaftVoters ", 1)[1].splitlines()[0])["voters"]
    assert [(v["voterId"], v["voterDirectoryId"], v["endpoints"]) for v in voters] == [
        (1, "4znU-ou9Taa06bmEJxsjnw", [{"name": "CONTROLLER", "host": "localhost",
                                        "port": 19093}]),
        (2, "MkU3OEVBNTcwNTJENDM2Qg", [{"name": "CONTROLLER", "host": "c2", "port": 19096}])]


def test_kafka_storage_info_reads_what_kraft_formatted(kafka: KafkaDist, tmp_path: Path) -> None:
    """kafka-storage info on directories kraft formatted prints what `kraft storage info`
    prints: the directories and their meta.properties (directory.id included)."""
    config = quickstart(tmp_path)
    assert storage("format", "-t", CLUSTER_ID, "-c", str(config), "-s").returncode == 0
    theirs = run_tool(kafka, "kafka-storage", "info", "-c", str(config)).stdout
    ours = storage("info", "-c", str(config))
    assert ours.returncode == 0
    assert ours.stdout.strip() == theirs.strip()


def test_kraft_starts_on_directories_kafka_formatted(kafka: KafkaDist, tmp_path: Path) -> None:
    """A node formatted by Kafka 4.4's kafka-storage format --standalone (its bootstrap
    checkpoint also holds Kafka's feature levels) starts under kraft as the one voter
    and takes a produce."""
    config = quickstart(tmp_path)
    run_tool(kafka, "kafka-storage", "format", "-t", CLUSTER_ID, "-c", str(config),
             "--standalone")
    out = tmp_path / "stdout.log"
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([*KRAFT, "start", str(config)], stdout=stdout,
                                stderr=subprocess.DEVNULL)
    try:
        line = wait_ready(proc, out)
        port = line.split("PLAINTEXT=")[1].split(",")[0].split()[0].rsplit(":", 1)[1]
        producer = confluent_kafka.Producer({"bootstrap.servers": f"localhost:{port}"})
        producer.produce("formatted-by-kafka", b"x")
        assert producer.flush(30) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kafka_checkpoint_without_voters_is_no_voter_set(kafka: KafkaDist,
                                                          tmp_path: Path) -> None:
    """Kafka writes its bootstrap checkpoint also for --no-initial-controllers (feature
    levels only): kraft reads that as no recorded voter set, and a controller formatted
    so starts as a joining observer (KIP-853): with no controller answering at its
    controller.quorum.bootstrap.servers it waits, says so in one line, and stops
    cleanly on SIGTERM."""
    config = quickstart(tmp_path, **{"controller.quorum.bootstrap.servers":
                                     f"localhost:{free_port()}"})
    run_tool(kafka, "kafka-storage", "format", "-t", CLUSTER_ID, "-c", str(config),
             "--no-initial-controllers")
    assert bootstrap_checkpoint.path(tmp_path / "logs1").exists()
    assert bootstrap_checkpoint.read(tmp_path / "logs1") is None
    out = tmp_path / "start.log"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([*KRAFT, "start", str(config)], stdout=sink,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "no controller in controller.quorum.bootstrap.servers answered" not in \
                out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "Traceback" not in out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
