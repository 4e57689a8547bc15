"""What a person sees from `python -m kraft ...`: one line they can act on, never a traceback.

Every test runs the real command as a subprocess (`python -m kraft`, the
same entry point as the `kraft` script) and checks its exit status and
stderr: the version, log levels, bad config values in Kafka's words, close
misspellings, Kafka's tuning keys accepted quietly, damaged meta.properties,
a listener port in use, and what `kraft format` refuses. Processes that
start a node are killed in `finally`, also when the test fails.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from kraft import meta_properties
from kraft.run import LOG_LEVELS, UsageError, _setup_logging
from tests.ports import free_port

KRAFT = [sys.executable, "-m", "kraft"]


def kraft(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KRAFT, *args], capture_output=True, text=True, timeout=timeout)


def one_line(stderr: str) -> str:
    """The only line of `stderr`, checked to be alone and not part of a traceback."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def properties(tmp_path: Path, **extra: str) -> Path:
    """A single-node server.properties on free ports (keys with dots, as in Kafka)."""
    client, controller = free_port(), free_port()
    props = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "log.dirs": str(tmp_path / "data"),
        **extra,
    }
    path = tmp_path / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items() if v is not None))
    return path


def test_python_m_kraft_and_version() -> None:
    """`python -m kraft` is the kraft command; --version prints the installed version."""
    version = kraft("--version")
    assert version.returncode == 0
    assert version.stdout == f"kraft {metadata.version('kraft')}\n"
    uuid = kraft("random-uuid")
    assert uuid.returncode == 0 and len(uuid.stdout.strip()) == 22


@pytest.mark.parametrize("command", ["dev", "start"])
def test_unknown_log_level_is_one_line(command: str, tmp_path: Path) -> None:
    """An unknown --log-level is one line listing the valid levels, exit status 2."""
    args = ["dev"] if command == "dev" else ["start", str(properties(tmp_path))]
    result = kraft(*args, "--log-level", "LOUD")
    assert result.returncode == 2
    assert one_line(result.stderr) == (f"kraft {command}: unknown --log-level 'LOUD'; valid "
                                       "levels are TRACE, DEBUG, INFO, WARN, ERROR")


def test_dev_controller_port_zero_is_one_line(tmp_path: Path) -> None:
    """`kraft dev --controller-port 0` is refused at once (the voter list names the port,
    so the node could never become ready), exit status 2."""
    result = kraft("dev", "--port", "0", "--controller-port", "0",
                   "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("kraft dev: --controller-port 0 cannot be used")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("name", "level"), [("trace", 5), ("Debug", logging.DEBUG),
                                             ("info", logging.INFO), ("WARN", logging.WARNING),
                                             ("warning", logging.WARNING),
                                             ("error", logging.ERROR)])
def test_kafka_level_names_in_any_case(name: str, level: int) -> None:
    """Kafka's level names (and Python's WARNING) are accepted in any case."""
    assert LOG_LEVELS[name.upper()] == level
    with pytest.raises(UsageError):
        _setup_logging("FINE")


class Running:
    """A `python -m kraft dev` process; stopped (killed if need be) by `close`."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out = tmp_path / "stdout.log"
        self.err = tmp_path / "stderr.log"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([*KRAFT, "dev", *args], stdout=out, stderr=err)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while "ready" not in self.out.read_text():
            assert self.proc.poll() is None, self.err.read_text()[-3000:]
            assert time.monotonic() < deadline, self.err.read_text()[-3000:]
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def dev_args(tmp_path: Path) -> Iterator[list[str]]:
    yield ["--port", str(free_port()), "--controller-port", str(free_port()),
           "--data-dir", str(tmp_path / "data")]


@pytest.mark.slow
def test_a_single_node_shutdown_is_two_lines_at_info(tmp_path: Path, dev_args: list[str]) -> None:
    """A node that led a topic's partitions and a group's offsets partition logs
    its shutdown as "shutting down" and "stopped" at INFO; what the shutdown
    causes (follower of every partition, groups unloaded, fenced, quorum and
    controller resigned) is at DEBUG."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    node = Running(tmp_path, *dev_args)
    try:
        node.wait_ready()
        bootstrap = f"127.0.0.1:{dev_args[1]}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("t", num_partitions=6, replication_factor=1)])["t"].result(30)
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce("t", b"v", partition=0)
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition("t", 0)])
        deadline = time.monotonic() + 30
        while (message := consumer.poll(0.5)) is None or message.error():
            assert time.monotonic() < deadline
        consumer.commit(message, asynchronous=False)
        consumer.close()
        assert "now leader of 50 partitions: __consumer_offsets" in node.err.read_text()
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(30) == 0
    finally:
        node.close()
    lines = node.err.read_text().splitlines()
    after = lines[next(i for i, line in enumerate(lines) if "shutting down" in line):]
    assert len(after) == 2, after
    assert after[0].endswith("INFO kraft.node: node 1: shutting down")
    assert "INFO kraft.node: node 1: stopped (shut down in " in after[1]


@pytest.mark.slow
@pytest.mark.parametrize("level", ["trace", "Warn"])
def test_dev_runs_at_kafkas_log_levels(level: str, tmp_path: Path, dev_args: list[str]) -> None:
    """`kraft dev --log-level trace` logs DEBUG records; `Warn` logs no INFO; both serve
    and stop cleanly on SIGTERM."""
    node = Running(tmp_path, *dev_args, "--log-level", level)
    try:
        node.wait_ready()
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(30) == 0
    finally:
        node.close()
    stderr = node.err.read_text()
    assert "Traceback" not in stderr
    if level == "trace":
        assert " DEBUG " in stderr
    else:
        assert " INFO " not in stderr and " DEBUG " not in stderr


def test_bad_values_in_kafkas_words(tmp_path: Path) -> None:
    """A bad value is one line in Kafka's words naming where it came from; no doubled
    "kraft dev: kraft dev:" prefix."""
    dev = kraft("dev", "--override", "num.partitions=three")
    assert dev.returncode == 1
    assert one_line(dev.stderr) == ("kraft dev: --override: Invalid value three for "
                                    "configuration num.partitions: Not a number of type INT")
    config = properties(tmp_path, **{"num.partitions": "three"})
    start = kraft("start", str(config))
    assert start.returncode == 1
    assert one_line(start.stderr) == (f"kraft start: {config}: Invalid value three for "
                                      "configuration num.partitions: Not a number of type INT")
    override = kraft("start", str(properties(tmp_path)), "-o", "log.segment.bytes=13")
    assert one_line(override.stderr) == ("kraft start: --override: Invalid value 13 for "
                                         "configuration log.segment.bytes: Value must be at "
                                         "least 14")
    dev_check = kraft("dev", "-o", "process.roles=broker,zookeeper")
    assert one_line(dev_check.stderr).startswith("kraft dev: --override: Invalid value "
                                                 "zookeeper for configuration process.roles")


def test_misspelled_and_kafka_only_keys(tmp_path: Path) -> None:
    """A misspelled key gets Kafka's warning and a "did you mean"; Kafka's thread and
    buffer keys are accepted without a word at INFO."""
    config = properties(tmp_path, **{"num.partition": "3", "num.io.threads": "16",
                                     "socket.send.buffer.bytes": "1048576"})
    result = kraft("start", str(config))
    assert result.returncode == 1  # the directory is not formatted
    assert "Traceback" not in result.stderr
    assert (f"{config}: The configuration 'num.partition' was supplied but isn't a known "
            "config; did you mean 'num.partitions'?") in result.stderr
    assert "num.io.threads" not in result.stderr and "socket.send" not in result.stderr
    debug = kraft("start", str(config), "--log-level", "DEBUG")
    assert "num.io.threads is accepted and has no effect" in debug.stderr


DAMAGED = [
    (b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n", "cluster.id is missing"),
    (b"#\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nversion=1\ndirectory.id=\xe9\xff\n",
     "node.id is missing"),
    (b"node.id=1\nversion=1\n", "cluster.id is missing"),
    (b"cluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=one\nversion=1\n",
     "node.id 'one' is not a number"),
]


@pytest.mark.parametrize(("content", "problem"), DAMAGED)
def test_damaged_meta_properties_is_one_line(content: bytes, problem: str,
                                             tmp_path: Path, dev_args: list[str]) -> None:
    """A damaged meta.properties (garbage, non-UTF-8, a missing or malformed key) stops
    `kraft dev` and `kraft start` with one line naming the file and the key."""
    data = tmp_path / "data"
    data.mkdir()
    path = data / "meta.properties"
    path.write_bytes(content)
    dev = kraft("dev", *dev_args, "--log-level", "WARN")
    assert dev.returncode == 1
    assert one_line(dev.stderr).startswith(f"kraft dev: {path} is damaged: {problem}; ")
    start = kraft("start", str(properties(tmp_path)), "--log-level", "WARN")
    assert start.returncode == 1
    assert one_line(start.stderr).startswith(f"kraft start: {path} is damaged: {problem}; ")


@pytest.mark.parametrize("taken", ["PLAINTEXT", "CONTROLLER"])
def test_port_in_use_names_the_listener(taken: str, tmp_path: Path) -> None:
    """A listener whose port is taken stops the node with one line naming the listener
    and its host:port."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        other = free_port()
        ports = (busy, other) if taken == "PLAINTEXT" else (other, busy)
        result = kraft("dev", "--port", str(ports[0]), "--controller-port", str(ports[1]),
                       "--data-dir", str(tmp_path / "data"), "--log-level", "ERROR")
    assert result.returncode == 1
    assert one_line(result.stderr) == (f"kraft dev: listener {taken} cannot bind "
                                       f"127.0.0.1:{busy}: address already in use")


def test_format_checks_the_cluster_id(tmp_path: Path) -> None:
    """The cluster id must be a Kafka Uuid (as random-uuid prints); else kafka-storage's
    message, and nothing is written."""
    config = properties(tmp_path)
    for bad, reason in [("abc", "Input string `abc` decoded as 2 bytes, which is not equal "
                                "to the expected 16 bytes of a base64-encoded UUID"),
                        ("my-cluster-id-00000000!", "Illegal base64 character 21")]:
        result = kraft("format", "-c", str(config), "-t", bad)
        assert result.returncode == 1
        assert one_line(result.stderr) == (f"kraft format: Cluster ID string {bad} does not "
                                           f"appear to be a valid UUID: {reason}")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("missing", ["controller.listener.names", "node.id",
                                     "controller.quorum.voters", "process.roles"])
def test_format_refuses_what_start_refuses(missing: str, tmp_path: Path) -> None:
    """A config `kraft start` would refuse is refused by `kraft format` with the same
    reason, before anything is written."""
    config = properties(tmp_path, **{missing: None})  # type: ignore[arg-type]
    formatted = kraft("format", "-c", str(config), "-t", meta_properties.random_uuid())
    started = kraft("start", str(config))
    assert formatted.returncode == started.returncode == 1
    reason = one_line(formatted.stderr).removeprefix("kraft format: ")
    assert one_line(started.stderr) == f"kraft start: {reason}"
    assert not (tmp_path / "data" / "meta.properties").exists()


def test_format_advice_for_formatted_directories(tmp_path: Path) -> None:
    """Formatting again is refused with Kafka's advice; a directory of another cluster
    names both cluster ids and what to do, even with --ignore-formatted."""
    config = properties(tmp_path)
    first, other = meta_properties.random_uuid(), meta_properties.random_uuid()
    assert kraft("format", "-c", str(config), "-t", first).returncode == 0
    again = kraft("format", "-c", str(config), "-t", first)
    assert again.returncode == 1
    assert one_line(again.stderr) == (f"kraft format: Log directory {tmp_path / 'data'} is "
                                      "already formatted. Use --ignore-formatted to ignore "
                                      "this directory and format the others.")
    ignored = kraft("format", "-c", str(config), "-t", first, "--ignore-formatted")
    assert ignored.returncode == 0
    assert ignored.stdout == "All of the log directories are already formatted.\n"
    foreign = kraft("format", "-c", str(config), "-t", other, "--ignore-formatted")
    assert foreign.returncode == 1
    line = one_line(foreign.stderr)
    assert line.startswith(f"kraft format: Invalid cluster.id in: "
                           f"{tmp_path / 'data' / 'meta.properties'}. Expected {other}, but "
                           f"read {first}.")
    assert f"--cluster-id {first}" in line
    assert meta_properties.read(tmp_path / "data").cluster_id == first  # type: ignore[union-attr]
