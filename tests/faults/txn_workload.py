"""The transactional queue workload (Jepsen's `queue --txn`): transactions across partitions.

Theory of operation. `TxnWorkload` runs `producers` worker threads, each a
confluent-kafka (librdkafka) transactional producer with its own
transactional.id. A worker runs transactions one after the other, `rate` per
second: each sends `sends_per_txn` unique integer values to partitions chosen
at random (at least two different ones) of a replication-factor-3 topic, then
asks for a commit, or, for a seeded random `abort_ratio` of them, flushes the
records (so the aborted data is in the log) and aborts. Each transaction is
recorded once in the `TxnHistory` with its outcome, as Jepsen records it:

- committed: commit_transaction returned;
- aborted: never asked to commit (whatever happened after), or a commit
  failed with an abortable error and abort_transaction then returned;
- unknown: a commit was asked and ended in a fatal error, a retriable error
  past the deadline or an abort that failed: it may have committed or not.

librdkafka's rules for errors (its transactional API): a retriable error of
commit or abort is retried (the same call again) until `op_deadline_s`; an
abortable error of commit is answered by abort_transaction; a fatal error
(fencing, an epoch bumped by the coordinator's timeout abort) ends the
producer *session*: the worker abandons it and starts a new producer with the
same transactional.id, whose init_transactions completes or aborts whatever
the old one left open (that is the coordinator's job).

`in_commit()` / `wait_commit_in_flight()` / `wait_commit_returned()` tell a
schedule when some worker is inside commit_transaction or has just left it,
so a fault can be timed to land while EndTxn is in flight, or just after it
was answered, while the coordinator writes the markers.

With `live_reader`, a read_committed librdkafka consumer reads every
partition from the beginning for the whole run; what it delivered is
recorded as live `TxnRead`s at `stop()`. `final_reads()` reads every
partition to the end with two read_committed readers of two client libraries
(kafka-python up to the last stable offset ListOffsets gives, librdkafka to
its partition EOF), after `wait_transactions_ended()` saw the last stable
offset reach the high watermark on every partition.

Timeouts are liveness bounds for a loaded 2-core machine, never performance
assertions.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka
import kafka
import kafka.errors

from tests.faults.txn_checker import TxnReport, check
from tests.faults.txn_history import Intent, Txn, TxnHistory, TxnOutcome, TxnRead, TxnSend
from tests.faults.workload import WorkloadConfig, create_topic, kafka_python_security


@dataclass(frozen=True)
class TxnWorkloadConfig:
    """What to run. `rate` is transactions per second per producer;
    `transaction_timeout_s` is the producers' transaction.timeout.ms (the
    coordinator aborts a transaction open longer); `op_timeout_s` bounds one
    init/commit/abort call and `op_deadline_s` its retries."""

    bootstrap: str
    topic: str = "txn-queue"
    partitions: int = 4
    replication_factor: int = 3
    min_insync_replicas: int = 2
    producers: int = 3
    sends_per_txn: int = 4
    abort_ratio: float = 0.25
    rate: float = 8.0
    seed: int = 0
    transactional_id_prefix: str = "txn-queue"
    # Short, so that transactions caught by a fault time out and are aborted by the
    # coordinator (epoch bump: the producer is fenced and starts a new session).
    transaction_timeout_s: float = 3.0
    request_timeout_s: float = 5.0
    op_timeout_s: float = 10.0
    op_deadline_s: float = 60.0
    read_timeout_s: float = 60.0
    live_reader: bool = True
    security: dict[str, str] = field(default_factory=dict)

    def transactional_id(self, process: int) -> str:
        return f"{self.transactional_id_prefix}-{process}"

    @property
    def transactional_ids(self) -> list[str]:
        return [self.transactional_id(p) for p in range(self.producers)]


def create_txn_topic(config: TxnWorkloadConfig) -> None:
    """Create the topic (replication factor, min.insync.replicas) and wait for its leaders."""
    create_topic(WorkloadConfig(
        bootstrap=config.bootstrap, topic=config.topic, partitions=config.partitions,
        replication_factor=config.replication_factor,
        min_insync_replicas=config.min_insync_replicas, security=config.security))


class _SessionEnded(Exception):
    """The producer session cannot go on (fatal error, fenced, given up): start a new one."""


@dataclass
class _Worker:
    process: int
    thread: threading.Thread | None = None
    error: BaseException | None = None
    committing: bool = False


class TxnWorkload:
    """The transactional producers (and the live reader) of one run; see the module docstring."""

    def __init__(self, config: TxnWorkloadConfig, history: TxnHistory) -> None:
        self.config = config
        self.history = history
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # commits done, commits starting
        self._committed = 0
        self._workers = [_Worker(p) for p in range(config.producers)]
        self._reader: threading.Thread | None = None
        self._reader_error: BaseException | None = None
        self._live: dict[int, list[tuple[int, int | None]]] = {
            p: [] for p in range(config.partitions)}

    # --- what schedules wait for ------------------------------------------------------------------

    @property
    def committed_count(self) -> int:
        with self._lock:
            return self._committed

    def wait_commits(self, more: int, timeout_s: float) -> bool:
        """Wait until `more` further transactions have committed; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            target = self._committed + more
            while self._committed < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def in_commit(self) -> list[int]:
        """The processes inside commit_transaction now."""
        with self._lock:
            return [w.process for w in self._workers if w.committing]

    def wait_commit_in_flight(self, processes: set[int] | None, timeout_s: float) -> int | None:
        """Wait until one of `processes` (any if None) is inside commit_transaction;
        returns it, or None on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = [w.process for w in self._workers if w.committing
                         and (processes is None or w.process in processes)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def wait_commit_returned(self, process: int, timeout_s: float) -> bool:
        """Wait until `process` is not inside commit_transaction; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._workers[process].committing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        for worker in self._workers:
            worker.thread = threading.Thread(target=self._run, args=(worker,),
                                             name=f"txn-producer-{worker.process}", daemon=True)
            worker.thread.start()
        if self.config.live_reader:
            self._reader = threading.Thread(target=self._read_live, name="txn-live-reader",
                                            daemon=True)
            self._reader.start()

    def stop(self, raise_errors: bool = True) -> None:
        """Stop: each worker ends its transaction (commit/abort as intended, within
        its deadline) and closes; the live reader records what it read."""
        self._stop.set()
        problems: list[tuple[str, BaseException | None]] = []
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join(self.config.op_deadline_s * 2 + 30)
                if worker.thread.is_alive():
                    problems.append((f"producer {worker.process} did not stop", None))
            if worker.error is not None:
                problems.append((f"producer {worker.process} crashed: {worker.error!r}",
                                 worker.error))
        if self._reader is not None:
            self._reader.join(30)
            if self._reader_error is not None:
                problems.append((f"live reader crashed: {self._reader_error!r}",
                                 self._reader_error))
            self.history.extend(
                TxnRead(reader="live", partition=p, records=records, live=True,
                        time_s=self.history.now())
                for p, records in sorted(self._live.items()))
        for text, _ in problems:
            self.history.note(text)
        if problems and raise_errors:
            text, error = problems[0]
            raise RuntimeError(text) from error

    def __enter__(self) -> TxnWorkload:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.stop(raise_errors=exc_type is None)

    # --- the producers ------------------------------------------------------------------

    def _run(self, worker: _Worker) -> None:
        try:
            self._produce(worker)
        except BaseException as e:  # stop() re-raises it in the test's thread
            worker.error = e

    def _new_producer(self, worker: _Worker, session: int) -> confluent_kafka.Producer | None:
        """A producer with init_transactions done (retried until it works), or None
        if the run stops first."""
        config = self.config
        while not self._stop.is_set():
            producer = confluent_kafka.Producer({
                "bootstrap.servers": config.bootstrap,
                "transactional.id": config.transactional_id(worker.process),
                "transaction.timeout.ms": int(config.transaction_timeout_s * 1000),
                "message.timeout.ms": int(config.transaction_timeout_s * 1000),
                "request.timeout.ms": int(config.request_timeout_s * 1000),
                "linger.ms": 2,
                "retry.backoff.ms": 50,
                "retry.backoff.max.ms": 500,
                "reconnect.backoff.max.ms": 500,
                **config.security,
            })
            deadline = time.monotonic() + config.op_deadline_s
            while not self._stop.is_set():
                try:
                    producer.init_transactions(config.op_timeout_s)
                    return producer
                except confluent_kafka.KafkaException as e:
                    error = e.args[0]
                    if error.fatal() or not error.retriable() or time.monotonic() > deadline:
                        self.history.note(f"producer {worker.process} session {session}: "
                                          f"init_transactions: {error.name()}; new producer")
                        break
            _close(producer)
        return None

    def _produce(self, worker: _Worker) -> None:
        config = self.config
        rng = random.Random(f"{config.seed}-{worker.process}")
        values = (n * config.producers + worker.process for n in itertools.count())
        interval = 1.0 / config.rate
        next_txn = time.monotonic()
        session = 0
        producer = self._new_producer(worker, session)
        for seq in itertools.count():
            if producer is None or self._stop.wait(max(0.0, next_txn - time.monotonic())):
                break
            next_txn = max(next_txn + interval, time.monotonic())
            chosen = rng.sample(range(config.partitions), 2) + [
                rng.randrange(config.partitions) for _ in range(config.sends_per_txn - 2)]
            intent: Intent = "abort" if rng.random() < config.abort_ratio else "commit"
            try:
                self._transaction(producer, worker, session, seq, intent,
                                  [(p, next(values)) for p in chosen])
            except _SessionEnded as e:
                self.history.note(f"producer {worker.process} session {session}: {e}; "
                                  f"starting a new session")
                _close(producer)
                session += 1
                producer = self._new_producer(worker, session)
        if producer is not None:
            _close(producer)

    def _transaction(self, producer: confluent_kafka.Producer, worker: _Worker, session: int,
                     seq: int, intent: Intent, sends: list[tuple[int, int]]) -> None:
        """Run one transaction and record it; raises _SessionEnded (after recording
        it, if anything was sent) when the producer must be replaced."""
        invoke_s = self.history.now()
        reports: dict[int, TxnSend] = {v: TxnSend(partition=p, value=v) for p, v in sends}

        def delivered(value: int) -> Any:
            def report(error: confluent_kafka.KafkaError | None,
                       msg: confluent_kafka.Message) -> None:
                partition = reports[value].partition
                reports[value] = (TxnSend(partition=partition, value=value, offset=msg.offset())
                                  if error is None else
                                  TxnSend(partition=partition, value=value, error=error.name()))
            return report

        try:
            producer.begin_transaction()
        except confluent_kafka.KafkaException as e:
            raise _SessionEnded(f"begin_transaction: {e.args[0].name()}") from None
        for partition, value in sends:
            try:
                producer.produce(self.config.topic, str(value).encode(), partition=partition,
                                 on_delivery=delivered(value))
            except (BufferError, confluent_kafka.KafkaException) as e:
                reports[value] = TxnSend(partition=partition, value=value,
                                         error=f"not enqueued: {e}")
                intent = "abort"  # a transaction missing a record must not commit
        outcome: TxnOutcome
        error: str | None = None
        ended: str | None = None
        if intent == "commit":
            outcome, error, ended = self._commit(producer, worker)
        else:
            outcome = "aborted"
            producer.flush(self.config.op_timeout_s)  # the aborted records reach the log
            ended = self._retry(producer.abort_transaction, "abort_transaction")
            error = ended
        self.history.record(Txn(process=worker.process, session=session, seq=seq,
                                intent=intent, outcome=outcome,
                                sends=[reports[v] for _, v in sends], error=error,
                                invoke_s=invoke_s, complete_s=self.history.now()))
        if outcome == "committed":
            with self._changed:
                self._committed += 1
                self._changed.notify_all()
        if ended is not None:
            raise _SessionEnded(ended)

    def _commit(self, producer: confluent_kafka.Producer,
                worker: _Worker) -> tuple[TxnOutcome, str | None, str | None]:
        """commit_transaction with librdkafka's error handling: (outcome, error,
        why the session ended or None)."""
        with self._changed:
            worker.committing = True
            self._changed.notify_all()
        try:
            failure = self._retry(producer.commit_transaction, "commit_transaction",
                                  abortable=True)
        finally:
            with self._changed:
                worker.committing = False
                self._changed.notify_all()
        if failure is None:
            return "committed", None, None
        if not failure.startswith("abortable"):
            return "unknown", failure, failure
        ended = self._retry(producer.abort_transaction, "abort_transaction")
        if ended is None:
            return "aborted", failure, None
        return "unknown", f"{failure}; then {ended}", ended

    def _retry(self, call: Any, name: str, abortable: bool = False) -> str | None:
        """Call `call(op_timeout_s)` again while it fails retriably, until the
        deadline. None when it succeeded; "abortable: ..." for an abortable
        error (if `abortable`); otherwise why the session must end."""
        deadline = time.monotonic() + self.config.op_deadline_s
        while True:
            try:
                call(self.config.op_timeout_s)
                return None
            except confluent_kafka.KafkaException as e:
                error = e.args[0]
                text = f"{name}: {error.name()} ({error.str()})"
                if error.fatal():
                    return f"fatal {text}"
                if abortable and error.txn_requires_abort():
                    return f"abortable {text}"
                if not error.retriable() or time.monotonic() > deadline:
                    return text

    # --- the live reader ------------------------------------------------------------------

    def _read_live(self) -> None:
        config = self.config
        try:
            consumer = _consumer(config, "txn-live")
            try:
                consumer.assign([confluent_kafka.TopicPartition(
                    config.topic, p, confluent_kafka.OFFSET_BEGINNING)
                    for p in range(config.partitions)])
                while not self._stop.is_set():
                    message = consumer.poll(0.2)
                    if message is None or message.error():
                        continue
                    self._live[message.partition()].append(
                        (message.offset(), _parse(message.value())))
            finally:
                consumer.close()
        except BaseException as e:
            self._reader_error = e


def _close(producer: confluent_kafka.Producer) -> None:
    """Abandon a producer session: what it left open is the next session's (or
    the coordinator's timeout's) to end. A producer in a fatal state refuses
    even the purge; it is dropped all the same."""
    with contextlib.suppress(confluent_kafka.KafkaException):
        producer.purge(in_queue=True, in_flight=True, blocking=False)
        producer.poll(0)


def _consumer(config: TxnWorkloadConfig, group: str) -> confluent_kafka.Consumer:
    """A read_committed librdkafka consumer that commits nothing."""
    return confluent_kafka.Consumer({
        "bootstrap.servers": config.bootstrap, "group.id": group,
        "enable.auto.commit": False, "enable.auto.offset.store": False,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest",
        "enable.partition.eof": True, "fetch.wait.max.ms": 100,
        **config.security,
    })


def _parse(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --- after the run --------------------------------------------------------------------------------


def end_offsets(config: TxnWorkloadConfig) -> dict[int, tuple[int, int]]:
    """Each partition's (last stable offset, high watermark), by ListOffsets with
    both isolation levels (kafka-python)."""
    found: dict[str, dict[int, int]] = {}
    tps = [kafka.TopicPartition(config.topic, p) for p in range(config.partitions)]
    for isolation in ("read_committed", "read_uncommitted"):
        consumer = kafka.KafkaConsumer(
            bootstrap_servers=config.bootstrap.split(","), group_id=None,
            isolation_level=isolation, request_timeout_ms=int(config.request_timeout_s * 1000),
            **kafka_python_security(config.security))
        try:
            found[isolation] = {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
        finally:
            consumer.close()
    return {p: (found["read_committed"][p], found["read_uncommitted"][p])
            for p in range(config.partitions)}


def wait_transactions_ended(config: TxnWorkloadConfig,
                            timeout_s: float) -> dict[int, tuple[int, int]]:
    """Wait until every partition's last stable offset equals its high watermark
    (no transaction open); returns the offsets last seen (LSO below HW on timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            offsets = end_offsets(config)
        except kafka.errors.KafkaError:
            offsets = None
        if offsets is not None and (all(lso == hw for lso, hw in offsets.values())
                                    or time.monotonic() > deadline):
            return offsets
        if time.monotonic() > deadline:
            raise TimeoutError(f"no ListOffsets answer from {config.bootstrap} in {timeout_s} s")
        time.sleep(0.5)


def final_reads(config: TxnWorkloadConfig, history: TxnHistory,
                offsets: dict[int, tuple[int, int]]) -> list[TxnRead]:
    """Read every partition with read_committed, kafka-python up to the last stable
    offset of `offsets` and librdkafka to its partition EOF; record the reads."""
    reads = _read_kafka_python(config, history, offsets) + _read_confluent(config, history,
                                                                           offsets)
    history.extend(reads)
    return reads


def _read_kafka_python(config: TxnWorkloadConfig, history: TxnHistory,
                       offsets: dict[int, tuple[int, int]]) -> list[TxnRead]:
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=config.bootstrap.split(","), group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", isolation_level="read_committed",
        request_timeout_ms=int(config.request_timeout_s * 1000), fetch_max_wait_ms=100,
        max_poll_records=10_000, **kafka_python_security(config.security))
    try:
        tps = [kafka.TopicPartition(config.topic, p) for p in range(config.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: dict[int, list[tuple[int, int | None]]] = {tp.partition: [] for tp in tps}
        unfinished = set(tps)
        deadline = time.monotonic() + config.read_timeout_s
        while unfinished and time.monotonic() < deadline:
            for tp in list(unfinished):
                if consumer.position(tp) >= offsets[tp.partition][0]:
                    unfinished.discard(tp)
                    consumer.pause(tp)
            for tp, messages in consumer.poll(timeout_ms=300).items():
                records[tp.partition].extend((m.offset, _parse(m.value)) for m in messages)
    finally:
        consumer.close()
    return [TxnRead(reader="kafka-python", partition=tp.partition, records=records[tp.partition],
                    end_offset=offsets[tp.partition][0], high_watermark=offsets[tp.partition][1],
                    complete=tp not in unfinished, time_s=history.now()) for tp in tps]


def _read_confluent(config: TxnWorkloadConfig, history: TxnHistory,
                    offsets: dict[int, tuple[int, int]]) -> list[TxnRead]:
    consumer = _consumer(config, "txn-final")
    records: dict[int, list[tuple[int, int | None]]] = {p: [] for p in range(config.partitions)}
    at_end: set[int] = set()
    try:
        consumer.assign([confluent_kafka.TopicPartition(
            config.topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(config.partitions)])
        deadline = time.monotonic() + config.read_timeout_s
        while len(at_end) < config.partitions and time.monotonic() < deadline:
            message = consumer.poll(0.3)
            if message is None:
                continue
            if message.error():
                if message.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                continue
            records[message.partition()].append((message.offset(), _parse(message.value())))
    finally:
        consumer.close()
    return [TxnRead(reader="confluent", partition=p, records=records[p],
                    end_offset=offsets[p][0], high_watermark=offsets[p][1],
                    complete=p in at_end, time_s=history.now())
            for p in range(config.partitions)]


def read_and_check(config: TxnWorkloadConfig, history: TxnHistory,
                   settle_timeout_s: float) -> TxnReport:
    """Wait (up to `settle_timeout_s`) for every transaction to end, read everything
    back with both readers and return the checker's verdict on the run."""
    offsets = wait_transactions_ended(config, settle_timeout_s)
    history.note(f"end offsets (LSO, HW) per partition: {offsets}")
    reads = final_reads(config, history, offsets)
    return check(history.txns, history.txn_reads if config.live_reader else reads)


__all__ = ["TxnWorkload", "TxnWorkloadConfig", "create_txn_topic", "end_offsets",
           "final_reads", "read_and_check", "wait_transactions_ended"]
