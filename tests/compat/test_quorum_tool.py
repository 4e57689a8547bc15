"""`kraft metadata-quorum` prints what Kafka 4.4's kafka-metadata-quorum prints for the
same quorum: the same --status fields and values (but the moving high watermark) and
the same --replication header and row layout, through the brokers and the controllers."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.compat.conftest import TOOL_TIMEOUT_S, Target, run_tool
from tests.compat.kafka_dist import KafkaDist
from tests.kraft.test_cli import kraft
from tests.kraft.test_storage_tool import CLUSTER_ID, controller_port, quickstart


def fields(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+):\s+(.*)$", text, re.MULTILINE))


@pytest.mark.parametrize("via", ["--bootstrap-server", "--bootstrap-controller"])
def test_status_and_replication_as_kafka_prints_them(via: str, kafka: KafkaDist,
                                                     target: Target) -> None:
    """Both tools name the --status fields alike, in the same order and layout, and agree
    on the quorum (cluster, leader, epoch, voters with endpoints, observers; on one node
    also the lags); they print the same --replication header and rows."""
    address = target.bootstrap if via == "--bootstrap-server" else target.controllers
    theirs = run_tool(kafka, "kafka-metadata-quorum", via, address, "describe",
                      "--status").stdout
    ours = kraft("metadata-quorum", via, address, "describe", "--status").stdout
    kafka_fields, kraft_fields = fields(theirs), fields(ours)
    assert list(kraft_fields) == list(kafka_fields)
    moving = ["HighWatermark"]
    if target.brokers > 1:  # followers' lag moves between the two runs
        moving += ["MaxFollowerLag", "MaxFollowerLagTimeMs"]
    for name in moving:
        kafka_fields.pop(name), kraft_fields.pop(name)
    assert kraft_fields == kafka_fields
    assert [len(line) - len(line.split(":", 1)[1].lstrip()) for line in ours.splitlines()] == \
        [len(line) - len(line.split(":", 1)[1].lstrip()) for line in theirs.splitlines()]
    kafka_table = run_tool(kafka, "kafka-metadata-quorum", via, address, "describe",
                           "--replication").stdout.splitlines()
    kraft_table = kraft("metadata-quorum", via, address, "describe",
                        "--replication").stdout.splitlines()
    assert kraft_table[0] == kafka_table[0]
    assert len(kraft_table) == len(kafka_table)
    def cells(row: str) -> tuple[str, ...]:  # NodeId, DirectoryId, Status
        c = [cell.strip() for cell in row.split("\t")]
        return c[0], c[1], c[6]

    assert sorted(map(cells, kraft_table[1:])) == sorted(map(cells, kafka_table[1:]))


@pytest.mark.parametrize("via", ["--bootstrap-server", "--bootstrap-controller"])
def test_kafka_cluster_tool(via: str, kafka: KafkaDist, dev: Target) -> None:
    """Kafka's kafka-cluster reads the cluster id and gets BrokerIdNotRegisteredException
    for an unknown broker, through a broker (which forwards UnregisterBroker) or the
    controllers."""
    address = dev.bootstrap if via == "--bootstrap-server" else dev.controllers
    tool = "org.apache.kafka.tools.ClusterTool"
    shown = subprocess.run(kafka.command(tool, "cluster-id", via, address),
                           capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert shown.returncode == 0 and shown.stdout == f"Cluster ID: {dev.cluster_id}\n"
    unknown = subprocess.run(kafka.command(tool, "unregister", via, address, "--id", "7"),
                             capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert unknown.returncode == 1
    assert ("BrokerIdNotRegisteredException: Broker ID 7 is not currently registered"
            in unknown.stderr)


@pytest.mark.slow
def test_kraft_tool_against_a_kafka_node(kafka: KafkaDist, tmp_path: Path) -> None:
    """Against a real Kafka 4.4 node (the quickstart config, formatted --standalone by
    kafka-storage), `kraft metadata-quorum` prints what kafka-metadata-quorum prints:
    the same --status fields (directoryId included) but the moving high watermark, and
    the same replication rows but the moving offsets and times; and kraft reads the
    voter set Kafka recorded."""
    config = quickstart(tmp_path)
    run_tool(kafka, "kafka-storage", "format", "-t", CLUSTER_ID, "-c", str(config),
             "--standalone")
    text = config.read_text()
    client = text.split("PLAINTEXT://localhost:")[1].split(",")[0].split()[0]
    logs = tmp_path / "kafka-logs"
    logs.mkdir()
    broker = subprocess.Popen(kafka.broker_command(config, logs), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        address = f"localhost:{controller_port(config)}"
        deadline = time.monotonic() + 120
        while kraft("metadata-quorum", "--bootstrap-controller", address, "describe",
                    "--status").returncode != 0:
            assert broker.poll() is None and time.monotonic() < deadline
            time.sleep(1)
        for via, where in (("--bootstrap-server", f"localhost:{client}"),
                           ("--bootstrap-controller", address)):
            theirs = fields(run_tool(kafka, "kafka-metadata-quorum", via, where, "describe",
                                     "--status").stdout)
            ours = fields(kraft("metadata-quorum", via, where, "describe", "--status").stdout)
            theirs.pop("HighWatermark"), ours.pop("HighWatermark")
            assert ours == theirs
            assert '"directoryId": "' in ours["CurrentVoters"]
            kafka_rows = run_tool(kafka, "kafka-metadata-quorum", via, where, "describe",
                                  "--replication").stdout.splitlines()
            kraft_rows = kraft("metadata-quorum", via, where, "describe",
                               "--replication").stdout.splitlines()
            assert kraft_rows[0] == kafka_rows[0]
            assert [r.split("\t")[:2] + r.split("\t")[6:] for r in kraft_rows[1:]] == \
                [r.split("\t")[:2] + r.split("\t")[6:] for r in kafka_rows[1:]]
    finally:
        broker.terminate()
        try:
            broker.wait(60)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


@pytest.mark.slow
def test_kafka_tool_adds_and_removes_a_kraft_controller(kafka: KafkaDist,
                                                        tmp_path: Path) -> None:
    """Kafka 4.4's kafka-metadata-quorum add-controller and remove-controller work against
    kraft (AddRaftVoter v1, RemoveRaftVoter): a controller formatted
    --no-initial-controllers becomes a voter and is removed again, with Kafka's lines."""
    from kraft import meta_properties
    from tests.kraft.test_cli import KRAFT
    from tests.kraft.test_dynamic_quorum import controller_config, voter_ids
    from tests.kraft.test_storage_tool import storage, wait_ready
    from tests.ports import free_port

    ports = {n: free_port() for n in (1, 2)}
    configs = {n: controller_config(tmp_path, n, port, ports[1]) for n, port in ports.items()}
    assert storage("format", "-t", CLUSTER_ID, "-c", str(configs[1]), "-s").returncode == 0
    assert storage("format", "-t", CLUSTER_ID, "-c", str(configs[2]), "-N").returncode == 0
    bootstrap = f"localhost:{ports[1]}"
    meta = meta_properties.read(configs[2].parent / "logs1")
    assert meta is not None
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for n in (1, 2):
            out = configs[n].parent / "stdout.log"
            with open(out, "wb") as stdout:
                procs.append((subprocess.Popen([*KRAFT, "start", str(configs[n])],
                                               stdout=stdout, stderr=subprocess.STDOUT), out))
        for proc, out in procs:
            wait_ready(proc, out)
        deadline = time.monotonic() + 60
        while True:  # the new controller may still be catching up (REQUEST_TIMED_OUT)
            added = run_tool(kafka, "kafka-metadata-quorum", "--bootstrap-controller",
                             bootstrap, "--command-config", str(configs[2]), "add-controller",
                             expect_exit=None)
            if added.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert added.returncode == 0, added.stderr
        assert added.stdout.strip() == (
            f"Added controller 2 with directory id {meta.directory_id} and endpoints: "
            f"CONTROLLER://localhost:{ports[2]}")
        assert voter_ids(bootstrap) == [1, 2]
        removed = run_tool(kafka, "kafka-metadata-quorum", "--bootstrap-controller", bootstrap,
                           "remove-controller", "--controller-id", "2",
                           "--controller-directory-id", meta.directory_id)
        assert removed.stdout.strip() == (
            f"Removed KRaft controller 2 with directory id {meta.directory_id}")
        assert voter_ids(bootstrap) == [1]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
