"""The transactional workload records each transaction's outcome as Jepsen does (no cluster:
a fake producer answers as librdkafka's transactional API would)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import confluent_kafka
import pytest

from tests.faults.txn_history import TxnHistory
from tests.faults.txn_workload import TxnWorkload, TxnWorkloadConfig, _SessionEnded, _Worker

KE = confluent_kafka.KafkaError


def error(code: int, *, fatal: bool = False, retriable: bool = False,
          abortable: bool = False) -> confluent_kafka.KafkaException:
    return confluent_kafka.KafkaException(KE(code, "from the test", fatal=fatal,
                                             retriable=retriable, txn_requires_abort=abortable))


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset


class FakeProducer:
    """Delivers every record at the next offset when flushed or committed; then
    raises the scripted errors of commit_transaction / abort_transaction in turn."""

    def __init__(self, commits: list[Exception | None], aborts: list[Exception | None]) -> None:
        self.commits = commits
        self.aborts = aborts
        self.pending: list[Callable[..., None]] = []
        self.next_offset = 0
        self.calls: list[str] = []

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(self, topic: str, value: bytes, partition: int, on_delivery: Any) -> None:
        self.pending.append(on_delivery)

    def _deliver(self) -> None:
        for report in self.pending:
            report(None, _Message(self.next_offset))
            self.next_offset += 1
        self.pending.clear()

    def flush(self, timeout: float) -> int:
        self._deliver()
        return 0

    def _answer(self, name: str, script: list[Exception | None]) -> None:
        self.calls.append(name)
        self._deliver()
        outcome = script.pop(0) if script else None
        if outcome is not None:
            raise outcome

    def commit_transaction(self, timeout: float) -> None:
        self._answer("commit", self.commits)

    def abort_transaction(self, timeout: float) -> None:
        self._answer("abort", self.aborts)


def run(intent: str, commits: list[Exception | None],
        aborts: list[Exception | None] | None = None) -> tuple[Any, bool, FakeProducer]:
    """One transaction of two records through the workload: (its Txn, whether the
    session ended, the fake producer)."""
    history = TxnHistory()
    workload = TxnWorkload(TxnWorkloadConfig(bootstrap="unused", op_deadline_s=60.0), history)
    producer = FakeProducer(commits, aborts or [])
    ended = False
    try:
        workload._transaction(producer, _Worker(0), 0, 0, intent,  # type: ignore[arg-type]
                              [(0, 10), (1, 20)])
    except _SessionEnded:
        ended = True
    (txn,) = history.txns
    return txn, ended, producer


def test_commit_returned_is_committed_with_offsets() -> None:
    """A commit that returns: committed, each record with its delivery offset."""
    txn, ended, _ = run("commit", [None])
    assert (txn.outcome, ended) == ("committed", False)
    assert [(s.partition, s.value, s.offset) for s in txn.sends] == [(0, 10, 0), (1, 20, 1)]


def test_retriable_commit_is_retried() -> None:
    """A retriable commit error is followed by the same call again, which decides."""
    txn, ended, producer = run("commit", [error(KE._TIMED_OUT, retriable=True), None])
    assert (txn.outcome, ended, producer.calls) == ("committed", False,
                                                    ["begin", "commit", "commit"])


def test_abortable_commit_then_abort_is_aborted() -> None:
    """An abortable commit error answered by an abort that returns: aborted (the
    coordinator accepted the abort), same session."""
    txn, ended, producer = run("commit", [error(KE._INCONSISTENT, abortable=True)], [None])
    assert (txn.outcome, ended, producer.calls[-2:]) == ("aborted", False, ["commit", "abort"])


@pytest.mark.parametrize("abort_error", [error(KE._FENCED, fatal=True),
                                         error(KE.INVALID_TXN_STATE)])
def test_abortable_commit_and_failed_abort_is_unknown(
        abort_error: confluent_kafka.KafkaException) -> None:
    """An abortable commit error whose abort fails: unknown, and a new session."""
    txn, ended, _ = run("commit", [error(KE._INCONSISTENT, abortable=True)], [abort_error])
    assert (txn.outcome, ended) == ("unknown", True)


def test_fatal_commit_is_unknown() -> None:
    """A fatal commit error (fenced): unknown, and a new session."""
    txn, ended, _ = run("commit", [error(KE._FENCED, fatal=True)])
    assert (txn.outcome, ended, txn.error is not None) == ("unknown", True, True)


def test_abort_intent_is_aborted_whatever_the_abort_says() -> None:
    """A transaction never asked to commit is aborted, even when its abort fails
    (the session then ends); its records were flushed to the log first."""
    txn, ended, producer = run("abort", [], [None])
    assert (txn.outcome, ended, producer.calls) == ("aborted", False, ["begin", "abort"])
    assert all(s.offset is not None for s in txn.sends)
    txn, ended, _ = run("abort", [], [error(KE._FENCED, fatal=True)])
    assert (txn.outcome, ended) == ("aborted", True)
