"""The queue workload: idempotent acks=all producers at a steady rate, then a full read.

Theory of operation. `Workload` runs `producers` worker threads against one
topic. Worker `process` sends the values `seq * producers + process` (unique
in the run) at `rate` sends per second, each to partition `(seq + process)
% partitions`, through a real client with idempotence on and acks=all:
librdkafka (confluent-kafka) or kafka-python (`client="mixed"` alternates
them between workers). Each send's outcome comes from the client's delivery
report and is recorded in the `History` exactly once:

- ok with the partition's offset;
- failed, only for errors that mean the record was certainly not written:
  the client refused it before sending (queue full, no metadata in time) or
  the broker rejected it as invalid (`DEFINITE_FAILURES`). A Jepsen lesson
  (KAFKA-13574): errors such as NOT_LEADER_OR_FOLLOWER or a timeout say
  nothing about whether the write happened;
- unknown for every other error, and for sends with no report when the
  worker's drain deadline passes after `stop()`.

A worker whose client reports a fatal error (librdkafka's idempotence
errors) records an Event, gives up its pending sends as unknown and starts a
new client: a new producer *session* (the checker compares order only within
one session, since a new producer id has its own sequence).

With KRAFT_FAULTS_RDKAFKA_DEBUG set to a directory, every librdkafka producer
logs its idempotence and message events (librdkafka `debug=eos,msg`) to a
file there, one per client: how a post-mortem sees why the client bumped its
epoch or re-sent a batch.

`final_read()` reads every partition with kafka-python's consumer, no
consumer group (group_id=None, so no FindCoordinator and no
__consumer_offsets topic): assign(), seek to the beginning, poll until each
partition's position reaches the high watermark taken (ListOffsets) at the
start of the read. A second client library for the read means a bug of one
client cannot hide itself. `create_topic()` makes the topic with its
replication factor and min.insync.replicas and waits until every partition
has a leader.

Timeouts are liveness bounds for a loaded 2-core machine, never performance
assertions.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import confluent_kafka
import kafka
import kafka.errors
from confluent_kafka.admin import AdminClient, NewTopic

from tests.faults.checker import Report, check
from tests.faults.history import History, Read, Send

# librdkafka errors that mean "not written": the broker validated the batch and
# refused it before appending, or the client never sent it.
DEFINITE_FAILURES = frozenset({
    confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE,
    confluent_kafka.KafkaError.INVALID_MSG,
    confluent_kafka.KafkaError.INVALID_RECORD,
    confluent_kafka.KafkaError.RECORD_LIST_TOO_LARGE,
    confluent_kafka.KafkaError.INVALID_REQUIRED_ACKS,
    confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED,
})
KAFKA_PYTHON_DEFINITE_FAILURES: tuple[type[BaseException], ...] = (
    kafka.errors.MessageSizeTooLargeError,
    kafka.errors.RecordListTooLargeError,
    kafka.errors.InvalidRecordError,
    kafka.errors.InvalidRequiredAcksError,
    kafka.errors.TopicAuthorizationFailedError,
)
CLIENTS = ("confluent", "kafka-python", "mixed")


@dataclass(frozen=True)
class WorkloadConfig:
    """What to run. `rate` is per producer; `message_timeout_s` bounds how long
    a client retries one send (librdkafka message.timeout.ms, kafka-python
    delivery_timeout_ms); `drain_timeout_s` is how long `stop()` waits for
    outstanding reports before calling the rest unknown."""

    bootstrap: str
    topic: str = "queue"
    partitions: int = 3
    replication_factor: int = 3
    min_insync_replicas: int = 2
    producers: int = 3
    rate: float = 40.0
    client: str = "confluent"
    message_timeout_s: float = 30.0
    request_timeout_s: float = 10.0
    drain_timeout_s: float = 45.0
    read_timeout_s: float = 60.0
    linger_ms: int = 2
    # librdkafka's security settings (security.protocol, sasl.*, ssl.ca.location);
    # kafka-python gets the same through kafka_python_security.
    security: dict[str, str] = field(default_factory=dict)
    # More librdkafka producer settings (scripts/bench_failover.py: socket.timeout.ms).
    rdkafka: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.client not in CLIENTS:
            raise ValueError(f"client must be one of {CLIENTS}, not {self.client!r}")


def create_topic(config: WorkloadConfig, timeout_s: float = 60.0) -> None:
    """Create the workload's topic (replication factor, min.insync.replicas as
    configured) and wait until every partition has a leader in Metadata."""
    admin = AdminClient({"bootstrap.servers": config.bootstrap, **config.security})
    topic = NewTopic(config.topic, num_partitions=config.partitions,
                     replication_factor=config.replication_factor,
                     config={"min.insync.replicas": str(config.min_insync_replicas)})
    futures = admin.create_topics([topic], request_timeout=timeout_s)
    futures[config.topic].result(timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(config.topic, timeout=timeout_s)
        found = metadata.topics.get(config.topic)
        if found is not None and found.error is None and len(found.partitions) == \
                config.partitions and all(p.leader >= 0 for p in found.partitions.values()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {config.topic} has no leader for every partition "
                               f"after {timeout_s} s: {found}")
        time.sleep(0.1)


# --- clients ------------------------------------------------------------------------------

_KAFKA_PYTHON_KEYS = {"security.protocol": "security_protocol",
                      "sasl.mechanism": "sasl_mechanism",
                      "sasl.username": "sasl_plain_username",
                      "sasl.password": "sasl_plain_password",
                      "ssl.ca.location": "ssl_cafile"}


def kafka_python_security(security: dict[str, str]) -> dict[str, Any]:
    """librdkafka's security settings as kafka-python's keyword arguments."""
    return {_KAFKA_PYTHON_KEYS[k]: v for k, v in security.items()}


Done = Callable[[int | None, str | None, bool], None]
"""Delivery callback: (offset if ok, error name if not, True if certainly not written)."""


class DefiniteFailure(Exception):
    """The client refused a send before it could reach any broker."""


class Client(Protocol):
    """One producer session, used only by its worker thread."""

    name: str

    def send(self, topic: str, partition: int, value: bytes, done: Done) -> None:
        """Hand one record to the client; raises DefiniteFailure if refused at once."""

    def poll(self) -> None:
        """Serve pending delivery callbacks (librdkafka calls them only here)."""

    def flush(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for every outstanding report."""

    def fatal_error(self) -> str | None:
        """A fatal error that ended this session, if any."""

    def close(self) -> None:
        """Abandon the session; later callbacks may still arrive and are ignored."""


_debug_logs = itertools.count()


def _rdkafka_debug() -> dict[str, Any]:
    """librdkafka debug settings writing to a new file under
    $KRAFT_FAULTS_RDKAFKA_DEBUG, or nothing when it is unset."""
    directory = os.environ.get("KRAFT_FAULTS_RDKAFKA_DEBUG")
    if not directory:
        return {}
    os.makedirs(directory, exist_ok=True)
    logger = logging.getLogger(f"rdkafka.{os.getpid()}.{next(_debug_logs)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.FileHandler(os.path.join(directory, f"{logger.name}.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return {"debug": "eos,msg", "logger": logger}


class ConfluentClient:
    name = "confluent"

    def __init__(self, config: WorkloadConfig, extra: dict[str, Any] | None = None) -> None:
        self._fatal: str | None = None
        self._producer = confluent_kafka.Producer({
            "bootstrap.servers": config.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": config.linger_ms,
            "message.timeout.ms": int(config.message_timeout_s * 1000),
            "request.timeout.ms": int(config.request_timeout_s * 1000),
            "retry.backoff.ms": 50,
            "retry.backoff.max.ms": 500,
            "reconnect.backoff.max.ms": 500,
            "error_cb": self._on_error,
            **config.security,
            **config.rdkafka,
            **_rdkafka_debug(),
            **(extra or {}),
        })

    def _on_error(self, error: confluent_kafka.KafkaError) -> None:
        if error.fatal():
            self._fatal = f"{error.name()}: {error.str()}"

    def send(self, topic: str, partition: int, value: bytes, done: Done) -> None:
        def report(error: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
            if error is None:
                done(msg.offset(), None, False)
            else:
                done(None, error.name(), error.code() in DEFINITE_FAILURES)

        try:
            self._producer.produce(topic, value, partition=partition, on_delivery=report)
        except BufferError as e:  # local queue full: never enqueued
            raise DefiniteFailure(f"_QUEUE_FULL: {e}") from None
        except confluent_kafka.KafkaException as e:
            # The producer went fatal since the worker last looked: librdkafka
            # refuses every produce() from then on (never enqueued). Serve the
            # error callback, which names the fatal error, for the history.
            if e.args[0].code() != confluent_kafka.KafkaError._FATAL:
                raise
            self._producer.poll(0)
            self._fatal = self._fatal or f"{e.args[0].name()}: {e.args[0].str()}"
            raise DefiniteFailure(f"_FATAL: {e}") from None

    def poll(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        self._producer.flush(timeout_s)

    def fatal_error(self) -> str | None:
        return self._fatal

    def close(self) -> None:
        self._producer.purge(in_queue=True, in_flight=True, blocking=False)
        self._producer.poll(0)
        del self._producer


class KafkaPythonClient:
    name = "kafka-python"

    def __init__(self, config: WorkloadConfig) -> None:
        self._producer = kafka.KafkaProducer(
            bootstrap_servers=config.bootstrap.split(","),
            enable_idempotence=True,
            acks="all",
            linger_ms=config.linger_ms,
            delivery_timeout_ms=int(config.message_timeout_s * 1000),
            request_timeout_ms=int(config.request_timeout_s * 1000),
            retry_backoff_ms=50,
            reconnect_backoff_max_ms=500,
            max_block_ms=2000,  # send() waits this long for metadata, then refuses
            **kafka_python_security(config.security),
        )

    def send(self, topic: str, partition: int, value: bytes, done: Done) -> None:
        try:
            future = self._producer.send(topic, value, partition=partition)
        except kafka.errors.KafkaTimeoutError as e:  # no metadata in time: never enqueued
            raise DefiniteFailure(f"KafkaTimeoutError: {e}") from None
        future.add_callback(lambda md: done(md.offset, None, False))
        future.add_errback(lambda e: done(None, type(e).__name__,
                                          isinstance(e, KAFKA_PYTHON_DEFINITE_FAILURES)))

    def poll(self) -> None:
        pass  # callbacks run on kafka-python's sender thread

    def flush(self, timeout_s: float) -> None:
        # What is still outstanding after the timeout is recorded as unknown.
        with contextlib.suppress(kafka.errors.KafkaTimeoutError):
            self._producer.flush(timeout_s)

    def fatal_error(self) -> str | None:
        return None

    def close(self) -> None:
        # With sends still outstanding, close(timeout=0) raises KafkaTimeoutError
        # after abandoning them, which is what we want.
        with contextlib.suppress(kafka.errors.KafkaTimeoutError):
            self._producer.close(timeout=0)


def make_client(config: WorkloadConfig, process: int) -> Client:
    kind = config.client
    if kind == "mixed":
        kind = CLIENTS[process % 2]
    return ConfluentClient(config) if kind == "confluent" else KafkaPythonClient(config)


# --- the workload ---------------------------------------------------------------------------


@dataclass
class _Pending:
    session: int
    seq: int
    partition: int
    invoke_s: float


@dataclass
class _Worker:
    process: int
    thread: threading.Thread | None = None
    pending: dict[int, _Pending] = field(default_factory=dict)  # value -> send awaiting report
    error: BaseException | None = None


class Workload:
    """The producers of one run; see the module docstring. `start()` launches
    them, `stop()` ends them and drains; every send ends up in `history`."""

    def __init__(self, config: WorkloadConfig, history: History) -> None:
        self.config = config
        self.history = history
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards every worker's pending and the counters
        self._acked = threading.Condition(self._lock)
        self._ok = 0
        self._workers = [_Worker(p) for p in range(config.producers)]

    @property
    def ok_count(self) -> int:
        with self._lock:
            return self._ok

    def wait_acks(self, more: int, timeout_s: float) -> bool:
        """Wait until `more` further sends have been acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._acked:
            target = self._ok + more
            while self._ok < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._acked.wait(left)
            return True

    def start(self) -> None:
        for worker in self._workers:
            worker.thread = threading.Thread(target=self._run, args=(worker,),
                                             name=f"producer-{worker.process}", daemon=True)
            worker.thread.start()

    def stop(self, raise_errors: bool = True) -> None:
        """Stop sending, let each worker drain (up to drain_timeout_s) and record
        its unreported sends as unknown. A worker's crash (also noted in the
        history) is re-raised if `raise_errors`."""
        self._stop.set()
        problems: list[tuple[str, BaseException | None]] = []
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join(self.config.drain_timeout_s + 30)
                if worker.thread.is_alive():
                    problems.append((f"producer {worker.process} did not stop", None))
            if worker.error is not None:
                problems.append((f"producer {worker.process} crashed: {worker.error!r}",
                                 worker.error))
        for text, _ in problems:
            self.history.note(text)
        if problems and raise_errors:
            text, error = problems[0]
            raise RuntimeError(text) from error

    def __enter__(self) -> Workload:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # An exception on its way out (a schedule that timed out) is the news;
        # a producer's trouble is only noted in the history then.
        self.stop(raise_errors=exc_type is None)

    def _resolve(self, worker: _Worker, value: int, offset: int | None, error: str | None,
                 definite: bool) -> None:
        """Record the outcome of send `value`, once; later reports are ignored."""
        with self._lock:
            pending = worker.pending.pop(value, None)
            if pending is None:
                return
            outcome = "ok" if offset is not None else "failed" if definite else "unknown"
            if outcome == "ok":
                self._ok += 1
                self._acked.notify_all()
            self.history.record(Send(
                process=worker.process, session=pending.session, seq=pending.seq, value=value,
                partition=pending.partition, outcome=outcome, offset=offset, error=error,
                invoke_s=pending.invoke_s, complete_s=self.history.now(),
            ))

    def _abandon(self, worker: _Worker, reason: str | None) -> None:
        with self._lock:
            values = list(worker.pending)
        for value in values:
            self._resolve(worker, value, None, reason, False)

    def _run(self, worker: _Worker) -> None:
        try:
            self._produce(worker)
        except BaseException as e:  # stop() re-raises it in the test's thread
            worker.error = e
            self._abandon(worker, f"producer crashed: {e!r}")

    def _produce(self, worker: _Worker) -> None:
        config = self.config
        session = 0
        client = make_client(config, worker.process)
        interval = 1.0 / config.rate
        next_send = time.monotonic()
        for seq in itertools.count():
            if self._stop.wait(max(0.0, next_send - time.monotonic())):
                break
            next_send = max(next_send + interval, time.monotonic())
            fatal = client.fatal_error()
            if fatal is not None:
                self.history.note(f"producer {worker.process} session {session}: fatal "
                                  f"error {fatal}; starting a new session")
                client.close()
                self._abandon(worker, f"session ended by fatal error {fatal}")
                session += 1
                client = make_client(config, worker.process)
            value = seq * config.producers + worker.process
            partition = (seq + worker.process) % config.partitions
            with self._lock:
                worker.pending[value] = _Pending(session, seq, partition, self.history.now())
            try:
                client.send(config.topic, partition, str(value).encode(),
                            lambda o, e, d, v=value: self._resolve(worker, v, o, e, d))
            except DefiniteFailure as e:
                self._resolve(worker, value, None, str(e), True)
            client.poll()
        client.flush(config.drain_timeout_s)
        client.poll()
        self._abandon(worker, None)  # no report before the deadline
        client.close()


def final_read(config: WorkloadConfig, history: History) -> list[Read]:
    """Read every partition from its log start offset to its high watermark (as
    of the start of the read) with kafka-python, no consumer group; record each
    partition's Read in `history` and return them."""
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=config.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
        request_timeout_ms=int(max(config.request_timeout_s, 5.0) * 1000),
        fetch_max_wait_ms=100,
        max_poll_records=10_000,
        **kafka_python_security(config.security),
    )
    try:
        tps = [kafka.TopicPartition(config.topic, p) for p in range(config.partitions)]
        consumer.assign(tps)
        start = consumer.beginning_offsets(tps)
        end = consumer.end_offsets(tps)
        consumer.seek_to_beginning(*tps)
        records: dict[int, list[tuple[int, int | None]]] = {tp.partition: [] for tp in tps}
        unfinished = {tp for tp in tps if end[tp] > start[tp]}
        deadline = time.monotonic() + config.read_timeout_s
        while unfinished and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for m in messages:
                    if m.offset < end[tp]:
                        records[tp.partition].append((m.offset, _parse(m.value)))
            for tp in list(unfinished):
                if consumer.position(tp) >= end[tp]:
                    unfinished.discard(tp)
                    consumer.pause(tp)
        reads = [Read(partition=tp.partition, log_start_offset=start[tp],
                      high_watermark=end[tp], records=records[tp.partition],
                      complete=tp not in unfinished, time_s=history.now()) for tp in tps]
    finally:
        consumer.close()
    history.extend(reads)
    return reads


def _parse(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_and_check(config: WorkloadConfig, history: History) -> Report:
    """The final read (recorded in `history`) and the checker's verdict on the run."""
    reads = final_read(config, history)
    return check(history.sends, reads)
