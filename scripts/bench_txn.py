"""Transactions on one `kraft dev` node: commit latency and records/s with 1, 10
and 100 records per transaction, next to idempotent produce of the same batches
(produce + flush), measured in the same run with confluent-kafka.
After a warm-up round, `transactions` rounds are timed.

    .venv/bin/python scripts/bench_txn.py [--transactions 300]

Prints a markdown table for docs/benchmarks.md. Each row: one producer sends
`transactions` rounds of k records of 100 B to one partition; a round is
begin + k produce + commit_transaction (transactional) or k produce + flush
(idempotent reference). Latency is the round's duration (p50, p99).
"""

from __future__ import annotations

import argparse
import statistics
import time

import confluent_kafka

from kraft.testing import Broker

VALUE = b"x" * 100


def _quantile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q * 100) - 1]


def _rounds(producer: confluent_kafka.Producer, topic: str, k: int, n: int,
            transactional: bool) -> tuple[list[float], float]:
    durations = []
    _round(producer, topic, k, transactional)  # warm up: connections, coordinator lookup
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        _round(producer, topic, k, transactional)
        durations.append(time.perf_counter() - t0)
    return durations, n * k / (time.perf_counter() - start)


def _round(producer: confluent_kafka.Producer, topic: str, k: int, transactional: bool) -> None:
    if transactional:
        producer.begin_transaction()
    for _ in range(k):
        producer.produce(topic, VALUE, partition=0)
    if transactional:
        producer.commit_transaction(30)
    else:
        producer.flush(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=300)
    args = parser.parse_args()
    rows = []
    with Broker(log_level="WARNING") as broker:
        bootstrap = broker.bootstrap_servers
        for k in (1, 10, 100):
            topic = broker.new_topic(partitions=1)
            idempotent = confluent_kafka.Producer({
                "bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
            ref, ref_rate = _rounds(idempotent, topic, k, args.transactions, False)
            txn = confluent_kafka.Producer({
                "bootstrap.servers": bootstrap, "transactional.id": f"bench-{k}",
                "linger.ms": 0})
            txn.init_transactions(30)
            got, rate = _rounds(txn, topic, k, args.transactions, True)
            rows.append((k, ref, ref_rate, got, rate))
    print("| records per transaction | idempotent p50 / p99 (ms) | idempotent rec/s "
          "| transactional p50 / p99 (ms) | transactional rec/s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for k, ref, ref_rate, got, rate in rows:
        print(f"| {k} | {_quantile(ref, .5) * 1000:.2f} / {_quantile(ref, .99) * 1000:.2f} "
              f"| {ref_rate:,.0f} | {_quantile(got, .5) * 1000:.2f} / "
              f"{_quantile(got, .99) * 1000:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
