#!/usr/bin/env python3
"""Benchmark: the single-node broker (`kraft dev`) against a bare sink, same run.

Every figure is measured, never asserted, and printed beside references from
the same run, since absolute numbers move between runs on a shared VM while
ratios hold:

- raw loopback: one TCP connection on 127.0.0.1, --ref-mib MiB in 1 MiB writes;
- raw disk: os.write of --ref-mib MiB in 1 MiB chunks to the data dir + fsync;
- the bare sink (`BareSink`, run as a child with `--serve-sink` so it shares no
  GIL with the clients): a trio server on `net/` answering ApiVersions,
  Metadata (itself as node 0, leader of partition 0 of every requested topic)
  and Produce v3-8. Per partition it frames the batches, checks each CRC32C and
  appends the bytes as sent to one file with os.write; base offsets come from
  a counter, acks=0 gets no response. No offset rewrite, index, replication or
  fsync: the floor cost of a produce path in Python, which the broker's should
  stay within 15 % of. It also lists Fetch (every partition answers
  UNKNOWN_SERVER_ERROR) because librdkafka writes record batch v2 only to a
  broker listing Produce >= 3 and Fetch >= 4.

Targets (`--target sink|kraft|both`) are child processes printing a line with
`ready` and `bootstrap.servers=HOST:PORT` once a client can produce; spawn to
that line is start-to-ready (p50, max over --ready-runs fresh starts), each
start preceded by the floor, `python -c "import trio"` (issue 12), with the
CPU time each used (on a shared machine CPU time moves less than wall time).
`--startup-only` measures just that for kraft and prints a small table;
`--compare-with DIR` adds the `kraft dev` of another checkout (its own .venv),
started beside each of this one's (taking turns to go first) after the same
floor: before/after figures of a change in one run. kraft
is `python -m kraft.cli dev` on free ports with a temporary --data-dir; if it
exits first (the CLI says "not built yet" with status 2 until dev mode
exists) it is reported as not available and the sink figures still print.
Targets are stopped by pid in a finally: SIGTERM, then SIGKILL after 15 s.

Loads, one partition, compression none: produce throughput of 100 B records
(records/s) and 1 KiB records (MB/s) at acks=1 and acks=all with kcat when
installed (the issue's reference figure is kcat's), else confluent-kafka;
confluent-kafka also runs acks=1 so the Python client's own per-message limit
shows against the same target. Runs alternate between the targets (sink,
kraft, sink, ...; --repeat each, median reported) after an os.sync(), so that
drift and leftover writeback fall on both alike. Each run goes to a fresh
topic and is checked (the sink's file or the broker's high watermark must hold
exactly the records sent, else "LOST"). Fetch (kraft only): a confluent-kafka Consumer, and kcat
-C, read an acks=1 topic back from OFFSET_BEGINNING. Latency: confluent-kafka
delivery-report p50/p99 at --rate msg/s with linger.ms=0, so the figure is the
broker's round trip rather than the linger.

Usage:
    .venv/bin/python scripts/bench_broker.py [--quick] [--target sink|kraft|both]
        [--records N] [--repeat R] [--dir /tmp] [--no-kcat]
    .venv/bin/python scripts/bench_broker.py --startup-only [--ready-runs N]
        [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.log.batch import crc_is_valid, iter_batches
from kraft.log.errors import InvalidBatchError
from kraft.net import api_versions
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import ApiRegistry
from kraft.net.server import KafkaServer, RequestContext
from kraft.tools.local_cluster import free_loopback_ports

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
MIB = 1 << 20

# librdkafka settings of the throughput runs (kcat -X and confluent-kafka alike).
PRODUCER_SETTINGS: dict[str, str] = {
    "linger.ms": "5",
    "batch.size": "1000000",
    "batch.num.messages": "100000",
    "queue.buffering.max.messages": "1000000",
    "compression.type": "none",
}
LATENCY_SETTINGS: dict[str, str] = {"linger.ms": "0", "compression.type": "none"}
CONSUMER_SETTINGS: dict[str, Any] = {
    "group.id": "bench-broker",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
}


# ---------------------------------------------------------------- the bare sink


class BareSink:
    """ApiVersions + Metadata + Produce v3-8, appending valid batches to one file.

    Contract: a partition's records are appended (one os.write, bytes as sent)
    only when every batch in them is well framed and has a valid CRC32C;
    otherwise nothing is written and the partition answers CORRUPT_MESSAGE
    (or the framing error's code). Only partition 0 of any topic exists.
    `records` and `batches` count what was appended. Single trio task owner:
    handlers run on one event loop, so the counters need no lock.
    """

    def __init__(self, path: str | os.PathLike[str], host: str) -> None:
        self.host = host
        self.port = 0
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.next_offset: dict[str, int] = {}
        self.records = 0
        self.batches = 0
        self.registry = ApiRegistry()
        api_versions.register(self.registry)
        self.registry.register(3, 0, 8, self._metadata)
        # Produce v0-2 carry magic 0/1 batches; advertise from 0 as Kafka does (KAFKA-18659).
        self.registry.register(0, 3, 8, self._produce, advertised_min=0)
        # librdkafka writes record batch v2 (feature MsgVer2) only to a broker that lists
        # Produce >= 3 *and* Fetch >= 4; without Fetch it falls back to magic 0 message sets.
        self.registry.register(1, 4, 11, self._fetch, advertised_min=0)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on self.host:self.port (0 picks one) until cancelled; report the bound port."""
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(KafkaServer(self.registry).serve, self.host, self.port)
            self.port = bound[0][1]  # Metadata advertises the port actually bound
            task_status.started(self.port)

    def close(self) -> None:
        os.close(self.fd)

    async def _metadata(self, ctx: RequestContext, header: RequestHeader, request: Any) -> Any:
        cls = response_class(header)
        if request.topics is None or (header.api_version == 0 and not request.topics):
            names = list(self.next_offset)  # "all topics": those seen so far
        else:
            names = [t.name for t in request.topics]
        for name in names:
            self.next_offset.setdefault(name, 0)
        partition = build(
            nested(cls, "MetadataResponsePartition"), error_code=ErrorCode.none, partition_index=0,
            leader_id=0, leader_epoch=-1, replica_nodes=(0,), isr_nodes=(0,),
            offline_replicas=(),
        )
        topic_cls = nested(cls, "MetadataResponseTopic")
        topics = tuple(
            build(topic_cls, error_code=ErrorCode.none, name=n, is_internal=False,
                  partitions=(partition,))
            for n in names
        )
        broker = build(nested(cls, "MetadataResponseBroker"), node_id=0, host=self.host,
                       port=self.port, rack=None)
        return build(cls, throttle_time=timedelta(0), brokers=(broker,), cluster_id="bare-sink",
                     controller_id=0, topics=topics)

    async def _produce(self, ctx: RequestContext, header: RequestHeader, request: Any) -> Any:
        cls = response_class(header)
        part_cls = nested(cls, "PartitionProduceResponse")
        responses = []
        for topic in request.topic_data:
            parts = []
            for data in topic.partition_data:
                error, base = self.append(topic.name, data.index, data.records)
                parts.append(build(part_cls, index=data.index, error_code=error,
                                   base_offset=base, log_append_time=None, log_start_offset=0,
                                   record_errors=(), error_message=None))
            responses.append(build(nested(cls, "TopicProduceResponse"), name=topic.name,
                                   partition_responses=tuple(parts)))
        if request.acks == 0:
            return None
        return build(cls, responses=tuple(responses), throttle_time=timedelta(0))

    async def _fetch(self, ctx: RequestContext, header: RequestHeader, request: Any) -> Any:
        """The sink keeps no offsets to serve: every partition gets UNKNOWN_SERVER_ERROR."""
        cls = response_class(header)
        part_cls, topic_cls = nested(cls, "PartitionData"), nested(cls, "FetchableTopicResponse")
        topics = tuple(
            build(topic_cls, topic=t.topic, partitions=tuple(
                build(part_cls, partition_index=p.partition,
                      error_code=ErrorCode.unknown_server_error, high_watermark=-1,
                      aborted_transactions=None, records=None)
                for p in t.partitions))
            for t in request.topics
        )
        return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none, session_id=0,
                     responses=topics)

    def append(
        self, topic: str, partition: int, records: bytes | None
    ) -> tuple[ErrorCode, int]:
        """Validate and append one partition's records: (error code, base offset).

        The base offset is -1 when an error is returned and nothing was written.
        """
        if partition != 0:
            return ErrorCode.unknown_topic_or_partition, -1
        if not records:
            return ErrorCode.invalid_record, -1
        count = batches = 0
        try:
            for pos, batch in iter_batches(records):
                if not crc_is_valid(records, pos, batch):
                    return ErrorCode.corrupt_message, -1
                count += batch.last_offset_delta + 1
                batches += 1
        except InvalidBatchError as e:
            return ErrorCode(int(e.error_code)), -1
        view = memoryview(records)
        while view:
            view = view[os.write(self.fd, view):]
        base = self.next_offset.get(topic, 0)
        self.next_offset[topic] = base + count
        self.records += count
        self.batches += batches
        return ErrorCode.none, base


def count_records(path: str | os.PathLike[str], start: int = 0) -> tuple[int, int]:
    """(records, batches with a bad CRC) in the sink file from byte `start`."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    records = bad = 0
    for pos, batch in iter_batches(data):
        records += batch.records_count
        bad += not crc_is_valid(data, pos, batch)
    return records, bad


def serve_sink_main(host: str, port: int, path: str) -> None:
    """The sink child: serve until SIGTERM/SIGINT; print `ready` and, at exit, counts."""
    sink = BareSink(path, host)
    sink.port = port

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                bound = await nursery.start(sink.serve)
                print(f"sink ready bootstrap.servers={host}:{bound}", flush=True)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    try:
        trio.run(main)
    finally:
        sink.close()
        print(f"sink stopped records={sink.records} batches={sink.batches}", flush=True)


# ---------------------------------------------------------------- references


def raw_loopback_mbps(total: int) -> float:
    """MB/s of one TCP connection on 127.0.0.1 sending `total` bytes in 1 MiB writes."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        received = [0]

        def receive() -> None:
            conn, _ = server.accept()
            buf = bytearray(MIB)
            with conn:
                while received[0] < total and (n := conn.recv_into(buf)):
                    received[0] += n

        thread = threading.Thread(target=receive)
        thread.start()
        chunk = bytes(MIB)
        with socket.create_connection(("127.0.0.1", port)) as client:
            start = time.perf_counter()
            for _ in range(total // MIB):
                client.sendall(chunk)
            thread.join()
            elapsed = time.perf_counter() - start
    return received[0] / elapsed / 1e6


def raw_disk_mbps(directory: Path, total: int) -> float:
    """MB/s of os.write of `total` bytes in 1 MiB chunks to a new file, fsync included."""
    path = directory / "raw-disk.bin"
    chunk = os.urandom(MIB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        start = time.perf_counter()
        for _ in range(total // MIB):
            os.write(fd, chunk)
        os.fsync(fd)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return total / elapsed / 1e6


# ---------------------------------------------------------------- target processes


class NotAvailable(Exception):
    """The target could not be started; the message says why."""


@dataclass
class Target:
    """A child process that prints `ready ... bootstrap.servers=H:P` on stdout."""

    name: str
    argv: list[str]
    log_dir: Path
    proc: subprocess.Popen[str] | None = None
    bootstrap: str = ""
    ready_s: float = 0.0
    ready_cpu_s: float | None = None  # CPU time (user + system) spent by then, Linux only
    cwd: Path | None = None  # where it runs (another checkout: --compare-with)

    def start(self) -> None:
        """Spawn and wait for the ready line; raises NotAvailable if it never comes."""
        err = open(self.log_dir / f"{self.name}.stderr", "w")  # noqa: SIM115 (child owns it)
        lines: queue.Queue[str | None] = queue.Queue()
        start = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=err, text=True,
                                     cwd=self.cwd)
        err.close()
        threading.Thread(target=self._drain, args=(self.proc, lines), daemon=True).start()
        deadline = start + READY_TIMEOUT_S
        while (remaining := deadline - time.perf_counter()) > 0:
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            if "ready" in line and "bootstrap.servers=" in line:
                self.ready_s = time.perf_counter() - start
                self.ready_cpu_s = _cpu_seconds(self.proc.pid)
                self.bootstrap = line.split("bootstrap.servers=")[1].split()[0]
                return
        self.stop()
        stderr = (self.log_dir / f"{self.name}.stderr").read_text().strip()
        tail = stderr.splitlines()[-1] if stderr else "(no stderr)"
        if self.proc.returncode == 2 and "not built yet" in stderr:
            raise NotAvailable(f"the CLI says: {tail}")
        raise NotAvailable(f"no ready line (exit status {self.proc.returncode}): {tail}")

    def _drain(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # read to the end so the child never blocks on a full pipe
            lines.put(line)
        lines.put(None)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def sink_target(work: Path) -> Target:
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-sink", "0",
            "--sink-file", str(work / "sink.log")]
    return Target("sink", argv, work)


def kraft_target(work: Path, data_dir: Path, tree: Path | None = None) -> Target:
    """`kraft dev` of this checkout, or of `tree` (its own .venv, run from its root)."""
    python = sys.executable if tree is None else str(tree / ".venv" / "bin" / "python")
    port, controller_port = free_loopback_ports(2)
    argv = [python, "-m", "kraft.cli", "dev", "--host", "127.0.0.1",
            "--port", str(port), "--controller-port", str(controller_port),
            "--data-dir", str(data_dir)]
    return Target("kraft", argv, work, cwd=tree)


# ---------------------------------------------------------------- loads


def kcat_version() -> str | None:
    """"kcat 1.7.1 (librdkafka 2.0.2)" when kcat (or kafkacat) is on PATH."""
    exe = shutil.which("kcat") or shutil.which("kafkacat")
    if exe is None:
        return None
    out = subprocess.run([exe, "-V"], capture_output=True, text=True).stdout
    version, lib = re.search(r"Version (\S+)", out), re.search(r"librdkafka (\S+)", out)
    return (f"{Path(exe).name} {version[1] if version else '?'} "
            f"(librdkafka {lib[1] if lib else '?'})")


def payload_file(work: Path, size: int, count: int) -> Path:
    """`count` newline-delimited records of `size` bytes (kcat's input), written and fsynced
    once, before any measurement, so its writeback does not overlap a run."""
    path = work / f"records-{size}x{count}.txt"
    if not path.exists():
        line = (b"0123456789abcdef" * (size // 16 + 1))[:size] + b"\n"
        with open(path, "wb") as f:
            for left in range(count, 0, -10_000):
                f.write(line * min(10_000, left))
            f.flush()
            os.fsync(f.fileno())
    return path


def kcat_produce(bootstrap: str, topic: str, path: Path, acks: str) -> float:
    """Seconds for kcat to send every line of `path` and receive every ack."""
    exe = shutil.which("kcat") or shutil.which("kafkacat")
    assert exe is not None
    argv = [exe, "-P", "-l", "-q", "-b", bootstrap, "-t", topic, "-p", "0", "-X", f"acks={acks}"]
    for key, value in PRODUCER_SETTINGS.items():
        argv += ["-X", f"{key}={value}"]
    start = time.perf_counter()
    done = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        print(f"  kcat exit {done.returncode}: {done.stderr.strip()[-300:]}", file=sys.stderr)
    return elapsed


def python_produce(bootstrap: str, topic: str, size: int, count: int, acks: str) -> float:
    """Seconds for confluent-kafka to produce `count` records and flush (after one warm-up)."""
    from confluent_kafka import Producer

    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks,
                         "delivery.report.only.error": True, **PRODUCER_SETTINGS,
                         "on_delivery": lambda err, _msg: errors.append(str(err))})
    value = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    producer.produce(topic, value, partition=0)
    producer.flush(30)
    start = time.perf_counter()
    for _ in range(count):
        try:
            producer.produce(topic, value, partition=0)
        except BufferError:  # queue.buffering.max.messages reached: let deliveries drain
            producer.poll(0.001)
            producer.produce(topic, value, partition=0)
    left = producer.flush(120)
    elapsed = time.perf_counter() - start
    if errors or left:
        print(f"  confluent-kafka: {len(errors)} errors, {left} undelivered "
              f"{errors[:1]}", file=sys.stderr)
    return elapsed


def produce_latency(bootstrap: str, topic: str, acks: str, rate: int, seconds: float
                    ) -> list[float]:
    """Delivery-report latencies (s) of 100-byte records sent at `rate`/s for `seconds`.

    Messages due are sent, then poll() waits until the next is due; poll wakes
    as soon as a delivery report arrives, so latencies are not rounded up to
    the pacing tick (and the loop does not spin a core the broker needs).
    """
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, **LATENCY_SETTINGS})
    latencies: list[float] = []
    errors: list[str] = []
    value = b"x" * 100

    def report(sent: float) -> Any:
        def on_delivery(err: Any, _msg: Any) -> None:
            if err is None:
                latencies.append(time.perf_counter() - sent)
            else:
                errors.append(str(err))
        return on_delivery

    producer.produce(topic, value, partition=0)
    producer.flush(30)
    total = int(rate * seconds)
    sent = 0
    start = time.perf_counter()
    while sent < total:
        now = time.perf_counter()
        while sent < total and start + sent / rate <= now:
            producer.produce(topic, value, partition=0, on_delivery=report(time.perf_counter()))
            sent += 1
        producer.poll(max(0.001, start + sent / rate - time.perf_counter()))
    producer.flush(30)
    if errors:
        print(f"  latency run: {len(errors)} delivery errors {errors[:1]}", file=sys.stderr)
    return latencies


def python_fetch(bootstrap: str, topic: str, expect: int) -> tuple[float, int, int]:
    """(seconds, records, value bytes) for a Consumer reading partition 0 from the start."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, **CONSUMER_SETTINGS})
    records = size = 0
    start = time.perf_counter()
    last = start + 1e-9  # the time of the last record read
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    try:
        while records < expect and time.perf_counter() - last < 15:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error() is None:
                    records += 1
                    size += len(msg.value())
                    last = time.perf_counter()
        return last - start, records, size
    finally:
        consumer.close()


def kcat_fetch(bootstrap: str, topic: str, expect: int) -> tuple[float, int]:
    """(seconds, records) for kcat -C reading up to `expect` records of partition 0.

    kcat prints one byte per record (-f .), so the count is checked without
    copying the values to a pipe.
    """
    exe = shutil.which("kcat") or shutil.which("kafkacat")
    assert exe is not None
    argv = [exe, "-C", "-q", "-b", bootstrap, "-t", topic, "-p", "0", "-o", "beginning",
            "-c", str(expect), "-e", "-f", "."]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, timeout=600)
    return time.perf_counter() - start, len(done.stdout)


def high_watermark(bootstrap: str, topic: str) -> int | None:
    """The broker's high watermark of partition 0 (ListOffsets), None if unanswered."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, **CONSUMER_SETTINGS})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    except KafkaException:
        return None
    finally:
        consumer.close()


def create_topics(bootstrap: str, topics: list[str]) -> str:
    """Create 1-partition topics with AdminClient; on failure rely on auto-create."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, 1, 1) for t in topics], request_timeout=30)
    failed = []
    for topic, future in futures.items():
        try:
            future.result(timeout=30)
        except Exception as e:  # CreateTopics missing or refused: auto-create may still work
            failed.append(f"{topic}: {e}")
    return "created with CreateTopics" if not failed else f"auto-create ({failed[0]})"


# ---------------------------------------------------------------- the run


@dataclass
class Figure:
    """One measured figure: `value` is what ratios compare (None: not comparable)."""

    value: float | None
    text: str


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in (0, 100]."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


def counts(args: argparse.Namespace) -> tuple[tuple[int, int], tuple[int, int]]:
    """((100, records), (1024, records)) of the produce runs."""
    return (100, args.records), (1024, max(1, args.records // 4))


class Run:
    """One target's process and figures; `bench` drives the loads across all targets."""

    def __init__(self, name: str, args: argparse.Namespace, work: Path, kcat: str | None,
                 tree: Path | None = None):
        self.name, self.args, self.work, self.kcat = name, args, work, kcat
        self.tree = tree  # kraft of another checkout (--compare-with)
        self._starts: list[tuple[float, float | None, float, float]] = []
        self.client = "kcat" if kcat else "python"
        self.figures: dict[str, Figure] = {}
        self.samples: dict[str, list[tuple[float, int | None, int]]] = {}
        self.notes: list[str] = []
        self.target: Target | None = None
        self.sink_checked = 0

    def _new_target(self, i: int) -> Target:
        if self.name == "sink":
            self.sink_checked = 0
            (self.work / "sink.log").unlink(missing_ok=True)
            return sink_target(self.work)
        data_dir = self.work / f"kraft-data-{i}"
        shutil.rmtree(self.work / f"kraft-data-{i - 1}", ignore_errors=True)
        data_dir.mkdir()
        return kraft_target(self.work, data_dir, self.tree)

    def stop(self) -> None:
        if self.target is not None:
            status = self.target.stop()
            if status not in (0, -signal.SIGTERM):
                self.notes.append(f"exit status {status} after SIGTERM")

    def start_to_ready(self) -> None:
        """--ready-runs fresh starts (new data dir each); the last one stays up."""
        for i in range(self.args.ready_runs):
            # The floor, measured beside each start so drift falls on both alike: an
            # interpreter that only imports trio.
            self.start_once(i, _import_trio_seconds())
        self.summarize_starts()

    def start_once(self, i: int, floor: tuple[float, float]) -> None:
        """Start number `i` (a new data dir), beside `floor` (wall, CPU) measured just before."""
        self.stop()
        self.target = self._new_target(i)
        self.target.start()
        self._starts.append((self.target.ready_s, self.target.ready_cpu_s, *floor))

    def summarize_starts(self) -> None:
        """The start-to-ready figures of the starts so far."""
        times = [t for t, _, _, _ in self._starts]
        floors = [f for _, _, f, _ in self._starts]
        cpu = [c for _, c, _, _ in self._starts if c is not None]
        floors_cpu = [f for _, _, _, f in self._starts]
        p50, worst = statistics.median(times), max(times)
        self.figures["ready p50"] = Figure(p50, f"{p50:.3f}")
        self.figures["ready max"] = Figure(worst, f"{worst:.3f}")
        floor = statistics.median(floors)
        self.figures["import trio p50"] = Figure(floor, f"{floor:.3f}")
        above = statistics.median(t - f for t, f in zip(times, floors, strict=True))
        self.figures["above floor p50"] = Figure(above, f"{above:.3f}")
        # CPU time moves less than wall time on a shared machine (others' load
        # delays a start, it does not add to its CPU time).
        if cpu:
            p50_cpu, floor_cpu = statistics.median(cpu), statistics.median(floors_cpu)
            self.figures["ready cpu p50"] = Figure(p50_cpu, f"{p50_cpu:.3f}")
            self.figures["import trio cpu p50"] = Figure(floor_cpu, f"{floor_cpu:.3f}")


    def held(self, topic: str) -> int | None:
        """Records the target holds for `topic`: the sink's file since the last check
        (negative: that many bad CRCs), or the broker's high watermark."""
        assert self.target is not None
        if self.name == "sink":
            path = self.work / "sink.log"
            size = path.stat().st_size
            records, bad = count_records(path, self.sink_checked)
            self.sink_checked = size
            return records if bad == 0 else -bad
        return high_watermark(self.target.bootstrap, topic)

    def produce(self, client: str, size: int, count: int, acks: str, rep: int) -> None:
        """One produce run to a fresh topic; its time and the records the target holds."""
        assert self.target is not None
        topic = f"bench-{client}-{size}-acks{acks}-{rep}"
        print(f"  {self.name}: {client} produce {count} x {size} B acks={acks}",
              file=sys.stderr, flush=True)
        if client == "kcat":
            path = payload_file(self.work, size, count)
            seconds, expect = kcat_produce(self.target.bootstrap, topic, path, acks), count
        else:
            seconds = python_produce(self.target.bootstrap, topic, size, count, acks)
            expect = count + 1  # the warm-up record
        key = f"produce {size} acks={acks} {client}"
        self.samples.setdefault(key, []).append((seconds, self.held(topic), expect))
        seconds = statistics.median_low(r[0] for r in self.samples[key])
        rps, mbps = count / seconds, count * size / seconds / 1e6
        fig = Figure(rps if size < 1024 else mbps, f"{rps:,.0f} rec/s, {mbps:,.0f} MB/s")
        if any(g is None for _, g, _ in self.samples[key]):
            fig.text += " (unchecked: no ListOffsets answer)"
        lost = [f"{g} of {e}" for _, g, e in self.samples[key] if g is not None and g != e]
        if lost:
            fig = Figure(None, f"{fig.text} (LOST: target holds {', '.join(lost)})")
        self.figures[key] = fig

    def fetch(self, client: str, size: int, count: int) -> None:
        """Read back the first acks=1 topic of this record size."""
        assert self.target is not None
        topic = f"bench-{self.client}-{size}-acks1-0"
        print(f"  {self.name}: {client} fetch {count} x {size} B", file=sys.stderr, flush=True)
        if client == "kcat":
            seconds, records = kcat_fetch(self.target.bootstrap, topic, count)
            nbytes = records * size
        else:
            seconds, records, nbytes = python_fetch(self.target.bootstrap, topic, count)
        rps, mbps = records / seconds, nbytes / seconds / 1e6
        fig = Figure(rps if size < 1024 else mbps, f"{rps:,.0f} rec/s, {mbps:,.0f} MB/s")
        if records < count:
            fig = Figure(None, f"{fig.text} (read {records} of {count})")
        self.figures[f"fetch {size} {client}"] = fig

    def latency(self, acks: str) -> None:
        assert self.target is not None
        print(f"  {self.name}: latency acks={acks}", file=sys.stderr, flush=True)
        lat = produce_latency(self.target.bootstrap, f"bench-latency-acks{acks}", acks,
                              self.args.rate, self.args.latency_seconds)
        for q in (50, 99):
            value = percentile(lat, q) * 1e3 if lat else None
            self.figures[f"latency acks={acks} p{q}"] = Figure(
                value, f"{value:.2f}" if value is not None else "no deliveries")


def bench(runs: list[Run], args: argparse.Namespace, kcat: str | None) -> None:
    """Every load on every running target, interleaved (sink, kraft, sink, ...) so that
    drift on the machine falls on both alike; dirty pages are synced before each run so
    one run's writeback does not land in the next."""
    client = "kcat" if kcat else "python"
    clients = [client] + (["python"] if kcat else [])
    for run in runs:
        if run.name == "kraft" and run.target is not None:
            topics = [f"bench-{c}-{s}-acks{a}-{r}" for c in clients for s in (100, 1024)
                      for a in ("1", "all") for r in range(args.repeat)]
            topics += ["bench-latency-acks1", "bench-latency-acksall"]
            run.notes.append(f"topics: {create_topics(run.target.bootstrap, topics)}")
    for size, count in counts(args):
        loads = [(client, acks) for acks in ("1", "all")] + ([("python", "1")] if kcat else [])
        for load_client, acks in loads:
            for rep in range(args.repeat):
                for run in runs:
                    os.sync()
                    run.produce(load_client, size, count, acks, rep)
    for run in runs:
        if run.name == "kraft":
            for size, count in counts(args):
                for fetch_client in clients:
                    os.sync()
                    run.fetch(fetch_client, size, count)
    for acks in ("1", "all"):
        for run in runs:
            run.latency(acks)


def _import_trio_seconds() -> tuple[float, float]:
    """Spawn to exit of `python -c "import trio"` (the start-up floor, issue 12):
    (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import trio"], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) process `pid` has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rows(args: argparse.Namespace, kcat: str | None) -> list[tuple[str, str, str]]:
    """(figure key, label, client) in table order."""
    tc, tc_label = ("kcat", "kcat") if kcat else ("python", "confluent-kafka")
    out = [("ready p50", "start to ready, p50 (s)", "-"),
           ("ready max", "start to ready, max (s)", "-"),
           ("import trio p50", "reference: `python -c \"import trio\"`, p50 (s)", "-"),
           ("above floor p50", "start to ready minus the floor of the same run, p50 (s)", "-"),
           ("ready cpu p50", "CPU time to ready (user + system), p50 (s)", "-"),
           ("import trio cpu p50", "reference: CPU time of `python -c \"import trio\"`, p50 (s)",
            "-")]
    for (size, count), unit in zip(counts(args), ("rec/s", "MB/s"), strict=True):
        what = f"{count:,} x {size} B"
        out += [(f"produce {size} acks={a} {tc}", f"produce {what}, acks={a} ({unit})", tc_label)
                for a in ("1", "all")]
        if kcat:
            out.append((f"produce {size} acks=1 python", f"produce {what}, acks=1 ({unit})",
                        "confluent-kafka"))
    for (size, count), unit in zip(counts(args), ("rec/s", "MB/s"), strict=True):
        out.append((f"fetch {size} python", f"fetch {count:,} x {size} B ({unit})",
                    "confluent-kafka"))
        if kcat:
            out.append((f"fetch {size} kcat", f"fetch {count:,} x {size} B ({unit})", "kcat"))
    out += [(f"latency acks={a} p{q}", f"produce latency p{q}, {args.rate:,}/s, acks={a} (ms)",
             "confluent-kafka") for a in ("1", "all") for q in (50, 99)]
    return out


def render(args: argparse.Namespace, runs: dict[str, Run | str], refs: dict[str, float],
           kcat: str | None) -> str:
    """The markdown table of every figure, and notes on each target."""

    def cell(name: str, key: str) -> str:
        run = runs.get(name)
        if run is None:
            return "not run"
        if isinstance(run, str):
            return "not available"
        if name == "sink" and key.startswith("fetch"):
            return "(no Fetch)"
        fig = run.figures.get(key)
        return fig.text if fig else "-"

    def ratio(key: str) -> str:
        sink, kraft = runs.get("sink"), runs.get("kraft")
        a = sink.figures.get(key) if isinstance(sink, Run) else None
        b = kraft.figures.get(key) if isinstance(kraft, Run) else None
        if a is None or b is None or not a.value or b.value is None:
            return "-"
        return f"{b.value / a.value:.2f}"

    mib = f"{args.ref_mib:,} MiB in 1 MiB writes"
    lines = ["| figure | client | sink | kraft | kraft/sink |",
             "| --- | --- | ---: | ---: | ---: |",
             f"| reference: raw loopback TCP, {mib} (MB/s) | - | {refs['loopback']:,.0f} | | |",
             f"| reference: raw disk, {mib} + fsync (MB/s) | - | {refs['disk']:,.0f} | | |"]
    lines += [f"| {label} | {client} | {cell('sink', key)} | {cell('kraft', key)} "
              f"| {ratio(key)} |" for key, label, client in rows(args, kcat)]
    lines += ["", "- goals (the issue's): start to ready under 0.5 s (Kafka's JVM: about 1.2 s, "
              "not measured here); produce throughput kraft/sink of 0.85 or more"]
    for name, run in runs.items():
        notes = [run] if isinstance(run, str) else run.notes
        lines += [f"- {name}: {note}" for note in notes]
    return "\n".join(lines)


def settings_text(args: argparse.Namespace, kcat: str | None) -> str:
    import confluent_kafka

    version = confluent_kafka.version()
    version = version if isinstance(version, str) else version[0]
    producer = " ".join(f"{k}={v}" for k, v in PRODUCER_SETTINGS.items())
    latency = " ".join(f"{k}={v}" for k, v in LATENCY_SETTINGS.items())
    consumer = " ".join(f"{k}={v}" for k, v in CONSUMER_SETTINGS.items())
    return "\n".join([
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; data in {args.dir or tempfile.gettempdir()}",
        f"- clients: {kcat or 'no kcat (not installed, or --no-kcat)'}; confluent-kafka {version} "
        f"(librdkafka {confluent_kafka.libversion()[0]})",
        f"- start to ready: {args.ready_runs} starts, each with a new data dir, spawn to the "
        "`ready` line on stdout",
        f"- produce throughput: one partition, {producer}, acks as shown; median of "
        f"{args.repeat} run(s) alternating between targets, os.sync() before each, each to "
        "a fresh topic; kcat sends a file of newline-delimited "
        "records (-l) and is timed from spawn to exit (all acks in); confluent-kafka is timed "
        "from the first produce() to flush() after one warm-up record",
        f"- produce latency: confluent-kafka, 100 B records, {latency}, produce() to delivery "
        f"report over {args.latency_seconds:g} s",
        f"- fetch: partition 0 assigned at OFFSET_BEGINNING, {consumer}, consume(10000) "
        "(confluent-kafka); kcat -C -o beginning -c N to /dev/null; MB = 10^6 bytes of values",
        "- sink: one process; ApiVersions, Metadata, Produce v3-8; CRC32C check and one os.write "
        "per partition's records to one file; no offset rewrite, index or fsync; Fetch is listed "
        "(librdkafka needs it for record batch v2) but answers UNKNOWN_SERVER_ERROR",
    ])


def startup_only(args: argparse.Namespace) -> int:
    """--startup-only: `kraft dev` start to ready and the floor, each run alternating
    (floor, then a fresh start, then with --compare-with a fresh start of the other
    checkout, each stopped before the next), as a table for docs/benchmarks.md."""
    with tempfile.TemporaryDirectory(prefix="bench-broker-", dir=args.dir) as tmp:
        runs = [Run("kraft", args, Path(tmp) / "this", None)]
        if args.compare_with:
            runs.append(Run("kraft", args, Path(tmp) / "other", None,
                            tree=Path(args.compare_with).resolve()))
        try:
            for run in runs:
                run.work.mkdir()
            if len(runs) == 1:
                runs[0].start_to_ready()
            else:
                for i in range(args.ready_runs):
                    floor = _import_trio_seconds()
                    for run in runs if i % 2 == 0 else runs[::-1]:  # neither always first
                        run.start_once(i, floor)
                        run.stop()
                for run in runs:
                    run.summarize_starts()
        finally:
            for run in runs:
                run.stop()
    command = shlex.join([".venv/bin/python", "scripts/bench_broker.py", *sys.argv[1:]])
    columns = ["kraft dev", *([f"kraft dev of {args.compare_with}"] if args.compare_with
                              else [])]
    lines = [f"`{command}` ({args.ready_runs} starts; {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, load average "
             f"{os.getloadavg()[0]:.1f}; measured {time.strftime('%Y-%m-%d')})", "",
             f"| figure | {' | '.join(columns)} |", f"| --- |{' ---: |' * len(columns)}"]
    lines += [f"| {label} | " + " | ".join(
        run.figures[key].text if key in run.figures else "-" for run in runs) + " |"
              for key, label, _ in rows(args, None)[:6]]
    print("\n".join(lines))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (small counts)")
    parser.add_argument("--target", choices=("sink", "kraft", "both"), default="both")
    parser.add_argument("--records", type=int, help="100-byte records per produce run "
                        "(1 KiB runs send a quarter as many); default 2,000,000, quick 100,000")
    parser.add_argument("--repeat", type=int, help="runs per produce figure (3, quick 1)")
    parser.add_argument("--ready-runs", type=int, help="starts for start-to-ready (5, quick 3)")
    parser.add_argument("--startup-only", action="store_true",
                        help="only kraft's start to ready beside the floor (no references, "
                             "no loads)")
    parser.add_argument("--compare-with", metavar="DIR",
                        help="with --startup-only: also start the kraft of another checkout "
                             "(DIR/.venv, e.g. /work/main) after each start, same floor")
    parser.add_argument("--rate", type=int, default=2000, help="latency run msg/s")
    parser.add_argument("--latency-seconds", type=float, help="latency run length (5, quick 2)")
    parser.add_argument("--ref-mib", type=int, help="MiB for the references (1024, quick 256)")
    parser.add_argument("--dir", help="where data goes (default: the system temp dir)")
    parser.add_argument("--no-kcat", action="store_true",
                        help="use confluent-kafka for throughput even when kcat is installed")
    parser.add_argument("--serve-sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--sink-file", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sink is not None:
        serve_sink_main(args.host, args.serve_sink, args.sink_file or "sink.log")
        return 0
    quick = args.quick
    args.records = args.records or (100_000 if quick else 2_000_000)
    args.repeat = args.repeat or (1 if quick else 3)
    args.ready_runs = args.ready_runs or (3 if quick else 5)
    args.latency_seconds = args.latency_seconds or (2.0 if quick else 5.0)
    args.ref_mib = args.ref_mib or (256 if quick else 1024)
    if args.startup_only:
        return startup_only(args)
    kcat = None if args.no_kcat else kcat_version()
    runs: dict[str, Run | str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-broker-", dir=args.dir) as tmp:
        work = Path(tmp)
        print("references ...", file=sys.stderr, flush=True)
        refs = {"loopback": raw_loopback_mbps(args.ref_mib * MIB),
                "disk": raw_disk_mbps(work, args.ref_mib * MIB)}
        if kcat:
            for size, count in counts(args):
                payload_file(work, size, count)
        live: list[Run] = []
        try:
            for name in ["sink", "kraft"] if args.target == "both" else [args.target]:
                print(f"{name}: start to ready ...", file=sys.stderr, flush=True)
                run = Run(name, args, work, kcat)
                try:
                    run.start_to_ready()
                    runs[name] = run
                    live.append(run)
                except NotAvailable as e:
                    runs[name] = f"not available: {e}"
            bench(live, args, kcat)
        finally:
            for run in live:
                run.stop()
    command = shlex.join([".venv/bin/python", "scripts/bench_broker.py", *sys.argv[1:]])
    table, settings = render(args, runs, refs, kcat), settings_text(args, kcat)
    print(f"{table}\n\n{settings}\n\n----- markdown for docs/benchmarks.md -----")
    print(f"## Broker, single node (`kraft dev`)\n\n`{command}`\n\n"
          f"Measured {time.strftime('%Y-%m-%d')}.\n\n{table}\n\nSettings:\n\n{settings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
