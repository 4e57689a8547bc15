"""Restart time of `kraft dev --data-dir` with data on disk, after a clean stop and
after kill -9.

Theory of operation: a dev node gets RECORDS idempotent records of VALUE_BYTES,
sent by confluent-kafka with linger.ms=0 and batch.num.messages=BATCH, so the log
holds many small batches (the worst case for recovery: every batch is validated
above the recovery point, and the producer state is rebuilt from batch
headers), on one partition with SEGMENT_BYTES segments. Then the node is
restarted REPEAT times after SIGTERM (clean: everything flushed and
checkpointed) and REPEAT times after kill -9 (unflushed tail validated again),
each timed from spawn to the `ready` line. The reference, measured in the same
run, is the start of an empty dev node.

Usage: .venv/bin/python scripts/bench_restart.py [--records N] [--batch N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(rb"ready: bootstrap\.servers=(\S+)")
TOPIC = "restart"
VALUE_BYTES = 100
SEGMENT_BYTES = 8 * 1024 * 1024


def start(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], float, str]:
    """Spawn `kraft dev` on `data_dir`; returns the process, seconds to `ready` and
    the bootstrap address."""
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kraft.cli", "dev", "--port", str(port),
         "--controller-port", str(port + 1), "--data-dir", str(data_dir),
         "-o", f"segment.bytes={SEGMENT_BYTES}", "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = READY.search(line)
        if match:
            return proc, time.monotonic() - began, match.group(1).decode()
    raise RuntimeError(f"kraft dev exited with {proc.wait()} before ready")


def fill(bootstrap: str, records: int, batch: int, *, create: bool) -> None:
    if create:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(30)
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0,
        "batch.num.messages": batch, "queue.buffering.max.messages": 1_000_000,
    })
    value = b"v" * VALUE_BYTES
    for i in range(records):
        while True:
            try:
                producer.produce(TOPIC, value)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "records left unsent"


def stop(proc: subprocess.Popen[bytes], how: signal.Signals) -> None:
    proc.send_signal(how)
    proc.wait(30)


def restarts(data_dir: Path, port: int, how: signal.Signals, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        proc, elapsed, _ = start(data_dir, port)
        times.append(elapsed)
        stop(proc, how)
    return times


def row(label: str, times: list[float]) -> str:
    return (f"| {label} | {statistics.median(times):.2f} | {max(times):.2f} | "
            f"{len(times)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1, help="records per batch (at most)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=19292)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        empty = restarts(work / "empty", args.port, signal.SIGTERM, args.repeat)
        data_dir = work / "data"
        proc, _, bootstrap = start(data_dir, args.port)
        began = time.monotonic()
        fill(bootstrap, args.records, args.batch, create=True)
        fill_s = time.monotonic() - began
        stop(proc, signal.SIGTERM)
        size = sum(p.stat().st_size for p in (data_dir / f"{TOPIC}-0").glob("*.log"))
        clean = restarts(data_dir, args.port, signal.SIGTERM, args.repeat)
        # A first start and kill -9 leaves a recovery point below the log end only if
        # data came after the last checkpoint: write more, then kill.
        proc, _, bootstrap = start(data_dir, args.port)
        fill(bootstrap, args.records, args.batch, create=False)
        stop(proc, signal.SIGKILL)
        killed = restarts(data_dir, args.port, signal.SIGKILL, args.repeat)
        size_after = sum(p.stat().st_size for p in (data_dir / f"{TOPIC}-0").glob("*.log"))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()  # an error left it running
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"data: {args.records:,} idempotent records of {VALUE_BYTES} B in batches of at "
          f"most {args.batch} ({size / 1e6:.0f} MB, written in {fill_s:.1f} s), then as many "
          f"again unflushed before kill -9 ({size_after / 1e6:.0f} MB in all); segments of "
          f"{SEGMENT_BYTES // 2**20} MiB")
    print("| start to ready | p50 (s) | max (s) | runs |")
    print("| --- | ---: | ---: | ---: |")
    print(row("reference: empty data directory", empty))
    print(row("after SIGTERM (clean)", clean))
    print(row("after kill -9 (unflushed tail validated)", killed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
