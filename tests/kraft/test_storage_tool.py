"""`kraft storage format|info|random-uuid` with kafka-storage's flags and messages, and a
Kafka 4.x quickstart server.properties formatted --standalone and started unmodified.

Each test runs the real command (`python -m kraft`) and checks exit status, output
and what was written; messages were taken from Kafka 4.4's kafka-storage run on the
same configs. Started nodes are killed in `finally`, also when a test fails.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import confluent_kafka
import pytest

from kraft import meta_properties
from kraft.raft import bootstrap_checkpoint
from kraft.raft.bootstrap_checkpoint import Voter
from tests.kraft.test_cli import KRAFT, kraft, one_line
from tests.ports import free_port

CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qg"


def quickstart(tmp_path: Path, roles: str = "broker,controller", **extra: str | None) -> Path:
    """Kafka 4.x's config/server.properties (dynamic quorum) on free ports, two log dirs."""
    client, controller = free_port(), free_port()
    props: dict[str, str | None] = {
        "process.roles": roles,
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"localhost:{controller}",
        "listeners": f"PLAINTEXT://:{client},CONTROLLER://:{controller}",
        "inter.broker.listener.name": "PLAINTEXT",
        "advertised.listeners": f"PLAINTEXT://localhost:{client},"
                                f"CONTROLLER://localhost:{controller}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
                                          "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "num.network.threads": "3",
        "num.io.threads": "8",
        "log.dirs": f"{tmp_path / 'logs1'},{tmp_path / 'logs2'}",
        "num.partitions": "1",
        "num.recovery.threads.per.data.dir": "1",
        "offsets.topic.replication.factor": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "log.retention.hours": "168",
        "log.segment.bytes": "1073741824",
        **extra,
    }
    path = tmp_path / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items() if v is not None))
    return path


def controller_port(config: Path) -> int:
    text = config.read_text()
    return int(text.split("CONTROLLER://localhost:")[1].split()[0])


def storage(*args: str) -> subprocess.CompletedProcess[str]:
    return kraft("storage", *args)


def test_random_uuid_is_a_cluster_id() -> None:
    """`kraft storage random-uuid` prints a Kafka Uuid that format accepts, a new one
    each time."""
    first, second = (storage("random-uuid").stdout.strip() for _ in range(2))
    assert first != second
    meta_properties.check_cluster_id(first)


def test_standalone_records_this_controller_as_the_only_voter(tmp_path: Path) -> None:
    """--standalone writes meta.properties with a distinct directory.id in every log dir
    and the bootstrap checkpoint naming this node, its metadata directory's id and its
    advertised controller endpoint; the lines are kafka-storage's."""
    config = quickstart(tmp_path)
    result = storage("format", "-t", CLUSTER_ID, "-c", str(config), "--standalone")
    assert result.returncode == 0, result.stderr
    logs1, logs2 = tmp_path / "logs1", tmp_path / "logs2"
    assert result.stdout.splitlines() == [
        f"Formatting dynamic metadata voter directory {logs1} with metadata.version 3.6-IV0.",
        f"Formatting data directory {logs2} with metadata.version 3.6-IV0."]
    metas = [meta_properties.read(d) for d in (logs1, logs2)]
    assert all(m is not None and (m.cluster_id, m.node_id) == (CLUSTER_ID, 1) for m in metas)
    ids = [m.directory_id for m in metas if m is not None]
    assert len(set(ids)) == 2 and all(len(i) == 22 for i in ids)
    assert bootstrap_checkpoint.read(logs1) == [
        Voter(1, ids[0], "CONTROLLER", "localhost", controller_port(config))]
    assert bootstrap_checkpoint.read(logs2) is None
    again = storage("format", "-t", CLUSTER_ID, "-c", str(config), "--standalone")
    assert again.returncode == 1
    assert one_line(again.stderr) == (f"Log directory {logs1} is already formatted. Use "
                                      "--ignore-formatted to ignore this directory and "
                                      "format the others.")
    skipped = storage("format", "-t", CLUSTER_ID, "-c", str(config), "-s", "-g")
    assert skipped.returncode == 0
    assert skipped.stdout == "All of the log directories are already formatted.\n"


def test_initial_controllers_give_the_metadata_directory_its_id(tmp_path: Path) -> None:
    """--initial-controllers records every listed voter; this node's metadata directory
    takes the directory id the list gives it, its data directory a new one."""
    config = quickstart(tmp_path)
    listed = "1@c1:9093:4znU-ou9Taa06bmEJxsjnw,2@[::1]:9096:MkU3OEVBNTcwNTJENDM2Qg"
    result = storage("format", "-t", CLUSTER_ID, "-c", str(config), "-I", listed)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("Formatting dynamic metadata voter directory")
    meta = meta_properties.read(tmp_path / "logs1")
    assert meta is not None and meta.directory_id == "4znU-ou9Taa06bmEJxsjnw"
    data = meta_properties.read(tmp_path / "logs2")
    assert data is not None and data.directory_id != meta.directory_id
    assert bootstrap_checkpoint.read(tmp_path / "logs1") == [
        Voter(1, "4znU-ou9Taa06bmEJxsjnw", "CONTROLLER", "c1", 9093),
        Voter(2, "MkU3OEVBNTcwNTJENDM2Qg", "CONTROLLER", "::1", 9096)]


@pytest.mark.parametrize(("change", "flags", "message"), [
    ({}, [], "Because controller.quorum.voters is not set on this controller, you must "
             "specify one of the following: --standalone, --initial-controllers, or "
             "--no-initial-controllers."),
    ({"controller.quorum.voters": "1@localhost:19093"}, ["--standalone"],
     "You cannot specify controller.quorum.voters and format the node with "
     "--initial-controllers or --standalone. If you want to use dynamic quorum, please remove "
     "controller.quorum.voters and specify controller.quorum.bootstrap.servers instead."),
    ({}, ["--initial-controllers", "1@localhost:19093"],
     "No colon following port could be found."),
    ({}, ["-I", "x@localhost:19093:4znU-ou9Taa06bmEJxsjnw"],
     "Failed to parse node id in dynamic voter string."),
    ({}, ["-I", "1@localhost:19093:nope"],
     "Failed to parse directory ID in dynamic voter string."),
    ({}, ["-I", "1@a:1:4znU-ou9Taa06bmEJxsjnw,1@b:2:MkU3OEVBNTcwNTJENDM2Qg"],
     "Node id 1 was specified more than once."),
    ({}, ["-I", ""], "No voters given."),
    ({}, ["-s", "--release-version", "2.8"],
     "Unknown metadata.version '2.8'. Supported metadata.version are: 3.3-IV3, 3.4-IV0, "
     "3.5-IV0, 3.5-IV1, 3.5-IV2, 3.6-IV0, 3.6-IV1, 3.6-IV2, 3.7-IV0, 3.7-IV1, 3.7-IV2, "
     "3.7-IV3, 3.7-IV4, 3.8-IV0, 3.9-IV0, 4.0-IV0, 4.0-IV1, 4.0-IV2, 4.0-IV3, 4.1-IV0, "
     "4.1-IV1, 4.2-IV0, 4.2-IV1, 4.3-IV0, 4.4-IV0, 4.4-IV1, 4.4-IV2"),
    ({}, ["-s", "-r", "4.0-IV3"], "metadata.version 4.0-IV3 is not supported yet: kraft runs "
                                  "3.6-IV0; omit --release-version or pass 3.6-IV0"),
    ({}, ["-s", "--feature", "nope.version=1"],
     "Unsupported feature: nope.version. Supported features are: "
     "eligible.leader.replicas.version, group.version, kraft.version, share.version, "
     "streams.version, transaction.version"),
    ({}, ["-s", "--feature", "transaction.version=3"],
     "No feature:transaction.version with feature level 3"),
    ({}, ["-s", "-f", "transaction.version=x"],
     "Can't parse feature=level string transaction.version=x: unable to parse x as a short."),
    ({}, ["-s", "-f", "transaction.version"],
     "Can't parse feature=level string transaction.version: equals sign not found."),
    ({}, ["-s", "-f", "kraft.version=0"],
     "Cannot set kraft.version to 0 if controller.quorum.voters is empty and one of the "
     "flags --standalone, --initial-controllers, or --no-initial-controllers is used. For "
     "dynamic controllers support, try removing the --feature flag for kraft.version."),
    ({}, ["-s", "-r", "3.6-IV0", "-f", "metadata.version=12"],
     "Use --release-version instead of --feature metadata.version=X to avoid ambiguity."),
    ({}, ["-s", "-f", "metadata.version=99"],
     "No MetadataVersion with feature level 99. Valid feature levels are from 7 to 34."),
    ({}, ["-s", "-f", "group.version=1"],
     "group.version=1 is not supported yet: kraft does not build the consumer group "
     "protocol of KIP-848; leave group.version at 0"),
    ({}, ["-s", "--add-scram", "SCRAM-SHA-256=[name=alice]"],
     "--add-scram: password=... (or salt and saltedpassword) is required"),
])
def test_format_refusals_in_kafkas_words(change: dict[str, str], flags: list[str],
                                         message: str, tmp_path: Path) -> None:
    """A format kafka-storage refuses is refused with its one-line message, nothing written."""
    config = quickstart(tmp_path, **change)
    result = storage("format", "-t", CLUSTER_ID, "-c", str(config), *flags)
    assert result.returncode == 1
    assert one_line(result.stderr) == message
    assert not (tmp_path / "logs1").exists() and not (tmp_path / "logs2").exists()


def test_add_scram_goes_into_the_bootstrap_records(tmp_path: Path) -> None:
    """--add-scram (repeatable, Kafka's syntax) writes the credentials into the metadata
    directory's bootstrap records, which the first active controller logs."""
    from kraft.metadata import bootstrap
    from kraft.metadata.records import UserScramCredentialRecord

    config = quickstart(tmp_path)
    result = storage("format", "-t", CLUSTER_ID, "-c", str(config), "--standalone",
                     "--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]",
                     "-S", "SCRAM-SHA-512=[name=bob,iterations=8192,password=bob-secret]")
    assert result.returncode == 0, result.stderr
    records = bootstrap.read(tmp_path / "logs1")
    assert [(r.name, r.mechanism, r.iterations) for r in records
            if isinstance(r, UserScramCredentialRecord)] == [("alice", 1, 4096),
                                                            ("bob", 2, 8192)]
    assert bootstrap.read(tmp_path / "logs2") == []  # the metadata directory only


def test_feature_levels_go_into_the_bootstrap_records(tmp_path: Path) -> None:
    """--feature transaction.version=1 is bootstrapped (the controller writes it instead
    of its default 2); levels kraft runs anyway (kraft.version=1 with --standalone,
    group.version=0, metadata.version=12) are accepted and add nothing."""
    from kraft.metadata import bootstrap
    from kraft.metadata.records import FeatureLevelRecord

    config = quickstart(tmp_path)
    result = storage("format", "-t", CLUSTER_ID, "-c", str(config), "--standalone",
                     "--feature", "transaction.version=1", "-f", "kraft.version=1",
                     "-f", "group.version=0", "-f", "metadata.version=12")
    assert result.returncode == 0, result.stderr
    assert bootstrap.read(tmp_path / "logs1") == [
        FeatureLevelRecord(name="transaction.version", feature_level=1)]


def test_standalone_only_on_a_controller_and_flags_exclusive(tmp_path: Path) -> None:
    """--standalone on a broker-only node is refused (Kafka's message); the three quorum
    flags exclude each other (a usage error, exit 2)."""
    port = free_port()
    config = quickstart(tmp_path, roles="broker", listeners=f"PLAINTEXT://:{port}",
                        **{"advertised.listeners": None})
    result = storage("format", "-t", CLUSTER_ID, "-c", str(config), "--standalone")
    assert result.returncode == 1
    assert one_line(result.stderr) == "You can only use --standalone on a controller."
    both = storage("format", "-t", CLUSTER_ID, "-c", str(config), "-s", "-N")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr and "Traceback" not in both.stderr
    broker = storage("format", "-t", CLUSTER_ID, "-c", str(config))
    assert broker.returncode == 0, broker.stderr
    assert bootstrap_checkpoint.read(tmp_path / "logs1") is None


def test_info_lists_directories_metadata_and_problems(tmp_path: Path) -> None:
    """`storage info` says which log dirs do not exist (exit 1), then, once formatted, lists
    them and the metadata they carry (exit 0), as kafka-storage info prints it."""
    config = quickstart(tmp_path)
    missing = storage("info", "-c", str(config))
    assert missing.returncode == 1
    assert missing.stdout.splitlines() == [
        "Found problems:", f"  {tmp_path / 'logs1'} does not exist",
        f"  {tmp_path / 'logs2'} does not exist", ""]
    assert storage("format", "-t", CLUSTER_ID, "-c", str(config), "-N").returncode == 0
    meta = meta_properties.read(tmp_path / "logs1")
    assert meta is not None
    found = storage("info", "-c", str(config))
    assert found.returncode == 0
    assert found.stdout.splitlines() == [
        "Found log directories:", f"  {tmp_path / 'logs1'}", f"  {tmp_path / 'logs2'}", "",
        f"Found metadata: {{cluster.id={CLUSTER_ID}, directory.id={meta.directory_id}, "
        "node.id=1, version=1}", ""]


def test_old_format_command_keeps_static_quorums_and_points_to_storage(tmp_path: Path) -> None:
    """`kraft format` refuses a controller without controller.quorum.voters and names the
    flags of `kraft storage format` instead of writing a node that cannot start."""
    config = quickstart(tmp_path)
    result = kraft("format", "-t", CLUSTER_ID, "-c", str(config))
    assert result.returncode == 1
    assert "kraft storage format" in one_line(result.stderr)
    assert not (tmp_path / "logs1").exists()


def _stderr_of(out: Path) -> Path:
    """Where the node whose stdout is `out` logs (read when it fails to start)."""
    return out.with_name("stderr.log")


def wait_ready(proc: subprocess.Popen[bytes], out: Path) -> str:
    deadline = time.monotonic() + 60
    while "ready" not in out.read_text():
        errors = _stderr_of(out)
        assert proc.poll() is None, out.read_text() + (
            errors.read_text()[-3000:] if errors.exists() else "")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return out.read_text()


def test_quickstart_config_formats_standalone_and_starts(tmp_path: Path) -> None:
    """Kafka 4.x's quickstart server.properties, unmodified: `storage format --standalone`
    then `start` gives a node that takes a produce; it exits 0 on SIGTERM."""
    config = quickstart(tmp_path)
    assert storage("format", "-t", CLUSTER_ID, "-c", str(config), "-s").returncode == 0
    out = tmp_path / "stdout.log"
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([*KRAFT, "start", str(config)], stdout=stdout,
                                stderr=subprocess.DEVNULL)
    try:
        line = wait_ready(proc, out)
        port = line.split("PLAINTEXT=")[1].split(",")[0].split()[0].rsplit(":", 1)[1]
        producer = confluent_kafka.Producer({"bootstrap.servers": f"localhost:{port}"})
        producer.produce("quickstart-events", b"hello")
        assert producer.flush(30) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_start_refuses_what_the_recorded_voter_set_cannot_run(tmp_path: Path) -> None:
    """A metadata directory whose directory.id is no longer the recorded voter's is
    refused at start with one line saying so (a controller formatted
    --no-initial-controllers now joins as an observer: tests/kraft/test_dynamic_quorum.py)."""
    other = tmp_path / "other"
    other.mkdir()
    config = quickstart(other)
    listed = f"1@localhost:{controller_port(config)}:4znU-ou9Taa06bmEJxsjnw"
    assert storage("format", "-t", CLUSTER_ID, "-c", str(config), "-I", listed).returncode == 0
    # As if the directory had been emptied and formatted again without the list.
    meta_properties.write(other / "logs1", meta_properties.MetaProperties(
        CLUSTER_ID, 1, meta_properties.random_uuid()))
    result = kraft("start", str(config))
    assert result.returncode == 1
    assert "formatted again" in one_line(result.stderr)


def test_the_metadata_log_leaves_the_bootstrap_checkpoint_alone(tmp_path: Path) -> None:
    """The bootstrap checkpoint (offset 0, epoch 0) is not taken for a snapshot of log
    entries: the metadata log opens with none and the file stays, readable."""
    from kraft.raft.disk_log import DiskLog

    voters = [Voter(1, "4znU-ou9Taa06bmEJxsjnw", "CONTROLLER", "localhost", 9093)]
    file = bootstrap_checkpoint.write(tmp_path, voters, 0)
    log = DiskLog(tmp_path)
    try:
        assert log.latest_snapshot_id() is None and log.earliest_snapshot_id() is None
        assert log.log_start_offset == 0
    finally:
        log.close()
    assert file.exists() and bootstrap_checkpoint.read(tmp_path) == voters


@pytest.mark.slow
def test_a_broker_finds_the_voters_from_the_bootstrap_servers(tmp_path: Path) -> None:
    """A controller-only node formatted --standalone and a broker-only node formatted
    without a voter set, both with only controller.quorum.bootstrap.servers: the broker
    learns the voters from the controller (DescribeCluster), registers, takes a produce
    with acks=all, and both stop on SIGTERM."""
    controller_dir, broker_dir = tmp_path / "controller", tmp_path / "broker"
    controller_dir.mkdir()
    broker_dir.mkdir()
    port = free_port()
    controller = quickstart(controller_dir, roles="controller",
                            listeners=f"CONTROLLER://:{port}",
                            **{"advertised.listeners": f"CONTROLLER://localhost:{port}",
                               "controller.quorum.bootstrap.servers": f"localhost:{port}",
                               "inter.broker.listener.name": None})
    client = free_port()
    broker = quickstart(broker_dir, roles="broker", listeners=f"PLAINTEXT://:{client}",
                        **{"node.id": "2",
                           "advertised.listeners": f"PLAINTEXT://localhost:{client}",
                           "controller.quorum.bootstrap.servers": f"localhost:{port}"})
    assert storage("format", "-t", CLUSTER_ID, "-c", str(controller), "-s").returncode == 0
    formatted = storage("format", "-t", CLUSTER_ID, "-c", str(broker))
    assert formatted.returncode == 0, formatted.stderr
    procs = []
    try:
        for config in (broker, controller):  # the broker first: it waits for the controller
            out = config.parent / "stdout.log"
            with open(out, "wb") as stdout, open(_stderr_of(out), "wb") as stderr:
                procs.append((subprocess.Popen([*KRAFT, "start", str(config)], stdout=stdout,
                                               stderr=stderr), out))
        for proc, out in procs:
            wait_ready(proc, out)
        producer = confluent_kafka.Producer({"bootstrap.servers": f"localhost:{client}",
                                             "acks": "all"})
        producer.produce("from-bootstrap", b"x")
        assert producer.flush(30) == 0
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(30) for proc, _ in procs] == [0, 0]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_three_controllers_from_initial_controllers(tmp_path: Path) -> None:
    """Three combined nodes formatted with the same --initial-controllers list (each
    metadata directory taking its listed id) and started with only
    controller.quorum.bootstrap.servers elect one leader of the three recorded voters;
    `kraft metadata-quorum` lists the three with their controller endpoints."""
    ports = {n: (free_port(), free_port()) for n in (1, 2, 3)}
    ids = {n: meta_properties.random_uuid() for n in ports}
    listed = ",".join(f"{n}@localhost:{c}:{ids[n]}" for n, (_, c) in ports.items())
    bootstrap = ",".join(f"localhost:{c}" for _, c in ports.values())
    procs = []
    try:
        for n, (client, controller) in ports.items():
            d = tmp_path / f"node{n}"
            d.mkdir()
            config = quickstart(d, **{
                "node.id": str(n), "controller.quorum.bootstrap.servers": bootstrap,
                "listeners": f"PLAINTEXT://:{client},CONTROLLER://:{controller}",
                "advertised.listeners": f"PLAINTEXT://localhost:{client},"
                                        f"CONTROLLER://localhost:{controller}"})
            assert storage("format", "-t", CLUSTER_ID, "-c", str(config), "-I",
                           listed).returncode == 0
            meta = meta_properties.read(d / "logs1")
            assert meta is not None and meta.directory_id == ids[n]
            out = d / "stdout.log"
            with open(out, "wb") as stdout, open(_stderr_of(out), "wb") as stderr:
                procs.append((subprocess.Popen([*KRAFT, "start", str(config)], stdout=stdout,
                                               stderr=stderr), out))
        for proc, out in procs:
            wait_ready(proc, out)
        result = kraft("metadata-quorum", "--bootstrap-controller", bootstrap, "describe",
                       "--status", "--json")
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert status["clusterId"] == CLUSTER_ID and status["leaderId"] in ports
        assert sorted((v["id"], v["endpoints"]) for v in status["currentVoters"]) == [
            (n, [f"CONTROLLER://localhost:{c}"]) for n, (_, c) in ports.items()]
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(60) for proc, _ in procs] == [0, 0, 0]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_metadata_dump_shows_the_recorded_voter_set(tmp_path: Path) -> None:
    """`kraft metadata dump --json` on a directory formatted --standalone shows the
    bootstrap checkpoint's kraft.version and voters by name, with their values."""
    config = quickstart(tmp_path)
    assert storage("format", "-t", CLUSTER_ID, "-c", str(config), "-s").returncode == 0
    meta = meta_properties.read(tmp_path / "logs1")
    assert meta is not None
    dumped = kraft("metadata", "dump", str(tmp_path / "logs1"), "--json")
    assert dumped.returncode == 0, dumped.stderr
    records = [json.loads(line) for line in dumped.stdout.splitlines()]
    assert [(r["type"], r["record"]) for r in records] == [
        ("SnapshotHeader", {}), ("KRaftVersion", {"kraft_version": 1}),
        ("KRaftVoters", {"voters": [{
            "voter_id": 1, "voter_directory_id": meta.directory_id,
            "endpoints": [f"CONTROLLER://localhost:{controller_port(config)}"]}]}),
        ("SnapshotFooter", {})]


def test_a_static_quorum_formats_without_quorum_flags(tmp_path: Path) -> None:
    """With controller.quorum.voters (kraft.version 0) `storage format` needs no quorum
    flag, records no voter set, and prints kafka-storage's lines."""
    config = quickstart(tmp_path, **{"controller.quorum.bootstrap.servers": None,
                                     "controller.quorum.voters": "1@localhost:19093"})
    result = storage("format", "-t", CLUSTER_ID, "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Formatting metadata directory {tmp_path / 'logs1'} with metadata.version 3.6-IV0.",
        f"Formatting data directory {tmp_path / 'logs2'} with metadata.version 3.6-IV0."]
    assert not bootstrap_checkpoint.path(tmp_path / "logs1").exists()
