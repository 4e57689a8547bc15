"""Benchmark: produce and fetch throughput over TLS against plaintext, and the cost of a
connection's TLS handshake and SCRAM-SHA-512 authentication (issue 16).

One `kraft start` node with PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512) listeners,
certificates made with the openssl CLI. Throughput with confluent-kafka (librdkafka)
producing and consuming the same records over each listener; handshakes with kraft's
own client (connect, TLS, ApiVersions, SaslHandshake, SaslAuthenticate x2), sequentially.

    .venv/bin/python scripts/bench_security.py [--records 500000] [--size 1024]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import confluent_kafka
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kraft.config import KafkaConfig  # noqa: E402
from kraft.net.client import Connection  # noqa: E402
from kraft.security.listener import client_security  # noqa: E402
from kraft.tools.local_cluster import free_loopback_ports  # noqa: E402
from tests.security.certs import make_pki  # noqa: E402

KRAFT = [sys.executable, "-m", "kraft.cli"]
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


def start(work: Path) -> tuple[subprocess.Popen[bytes], dict[str, int], Path]:
    pki = make_pki(work / "pki")
    names = ("PLAINTEXT", "SSL", "SASL_SSL", "CONTROLLER")
    ports = dict(zip(names, free_loopback_ports(len(names)), strict=True))
    props = {
        "node.id": "1", "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@127.0.0.1:{ports['CONTROLLER']}",
        "controller.listener.names": "CONTROLLER",
        "listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items()),
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            f'{SCRAM} required username="bench" password="bench-secret";',
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki.keystore("server")),
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki.ca),
        "log.dirs": str(work / "data"),
    }
    config = work / "server.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    subprocess.run([*KRAFT, "format", "-c", str(config), "-t", "AAAAAAAAAAAAAAAAAAAAAA",
                    "--add-scram", "SCRAM-SHA-512=[name=bench,password=bench-secret]"],
                   check=True, capture_output=True)
    log = work / "node.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*KRAFT, "start", str(config)], stdout=out,
                                stderr=subprocess.STDOUT)
    while "ready" not in log.read_text():
        if proc.poll() is not None:
            raise SystemExit(log.read_text())
        time.sleep(0.05)
    return proc, ports, pki.ca


def settings(listener: str, ports: dict[str, int], ca: Path) -> dict[str, str]:
    base = {"bootstrap.servers": f"127.0.0.1:{ports[listener]}"}
    if listener == "SSL":
        base |= {"security.protocol": "SSL", "ssl.ca.location": str(ca)}
    if listener == "SASL_SSL":
        base |= {"security.protocol": "SASL_SSL", "ssl.ca.location": str(ca),
                 "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "bench",
                 "sasl.password": "bench-secret"}
    return base


def produce(conf: dict[str, str], topic: str, count: int, size: int) -> float:
    producer = confluent_kafka.Producer({**conf, "acks": "1", "linger.ms": "5",
                                         "batch.size": 1048576})
    value = b"x" * size
    started = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(120) == 0
    return time.perf_counter() - started


def fetch(conf: dict[str, str], topic: str, count: int) -> float:
    consumer = confluent_kafka.Consumer({**conf, "group.id": f"bench-{topic}",
                                         "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = 0
    started = None
    while got < count:
        for message in consumer.consume(10000, 1.0):
            if message.error() is None:
                started = started or time.perf_counter()
                got += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed


async def handshakes(listener: str, ports: dict[str, int], ca: Path, n: int) -> list[float]:
    props = {"listener.security.protocol.map": f"{listener}:{listener}",
             "ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca),
             "sasl.enabled.mechanisms": "SCRAM-SHA-512",
             "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
             f"listener.name.{listener.lower()}.scram-sha-512.sasl.jaas.config":
                 f'{SCRAM} required username="bench" password="bench-secret";'}
    security = client_security(KafkaConfig(props), listener,
                               "sasl.mechanism.inter.broker.protocol")
    times = []
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            started = time.perf_counter()
            conn = await Connection.open(nursery, ("127.0.0.1", ports[listener]), "bench", 10,
                                         security)
            times.append(time.perf_counter() - started)
            await conn.aclose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--handshakes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-security-") as tmp:
        proc, ports, ca = start(Path(tmp))
        try:
            mib = args.records * args.size / 2**20
            print(f"| listener | produce {args.records:,} x {args.size} B acks=1 (MiB/s) "
                  f"| fetch (MiB/s) | connection setup p50 / p99 (ms) |")
            print("| --- | ---: | ---: | ---: |")
            for listener in ("PLAINTEXT", "SSL", "SASL_SSL"):
                conf = settings(listener, ports, ca)
                topic = f"bench-{listener.lower()}"
                p = produce(conf, topic, args.records, args.size)
                f = fetch(conf, topic, args.records)
                setup = sorted(trio.run(handshakes, listener, ports, ca, args.handshakes))
                p50 = statistics.median(setup) * 1000
                p99 = setup[int(len(setup) * 0.99) - 1] * 1000
                print(f"| {listener} | {mib / p:,.0f} | {mib / f:,.0f} | "
                      f"{p50:.2f} / {p99:.2f} |")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


if __name__ == "__main__":
    main()
