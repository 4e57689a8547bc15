#!/usr/bin/env python3
"""Benchmark the partition log against the raw machine, in the same run.

(a) Append, next to a raw `os.write` loop of the very same chunks to a plain
    file: `append_as_leader` with one 16 KiB or 1 MiB batch per call (the
    produce path: validation, CRC32C, offset assignment, index upkeep,
    pwritev), and `append_as_follower` with 64 x 16 KiB batches per call (the
    replication path). Trials alternate raw/log on fresh files; the best of
    --trials is reported for each. Nothing is fsynced in either (page cache
    throughput, as Kafka's append).
(b) Read path: serve --read-mb MiB of segment data to a loopback TCP reader,
    fetching with `PartitionLog.read` in --fetch-kb requests, once with
    `os.sendfile` of the returned slices and once with `to_bytes()` +
    `sendall`, next to sending an in-memory buffer of the same size per
    request (the loopback ceiling); a reader thread drains the socket. Modes
    alternate; the best of --read-trials is reported.

Prints a markdown table. Usage: .venv/bin/python scripts/bench_log.py [-h]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kraft.log.batch import rewrite_in_place
from kraft.log.config import LogConfig
from kraft.log.log import PartitionLog
from kraft.log.records import Record, build_batch

MiB = 1024 * 1024
AppendRun = Callable[[Path, Sequence[bytes]], float]


def make_batch(target_size: int, record_size: int = 1024) -> tuple[bytes, int]:
    """An uncompressed batch of about `target_size` bytes and its record count."""
    count = max(1, (target_size - 61) // (record_size + 24))
    value = os.urandom(record_size)
    now = time.time_ns() // 1_000_000
    records = [Record(b"key-%d" % i, value, (), now) for i in range(count)]
    return build_batch(records), count


def _scratch_log(directory: Path) -> PartitionLog:
    return PartitionLog.open(directory / "bench-0", LogConfig())


def _drop_log(directory: Path, log: PartitionLog) -> None:
    log.close()
    shutil.rmtree(directory / "bench-0")


def raw_write(directory: Path, chunks: Sequence[bytes]) -> float:
    """Seconds to os.write each chunk to a fresh file."""
    path = directory / "raw.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        start = time.perf_counter()
        for chunk in chunks:
            os.write(fd, chunk)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
    path.unlink()
    return elapsed


def leader_append(directory: Path, chunks: Sequence[bytes]) -> float:
    """Seconds to append_as_leader each chunk (one produce request each)."""
    log = _scratch_log(directory)
    append = log.append_as_leader
    start = time.perf_counter()
    for chunk in chunks:
        info = append(chunk, 0)
    elapsed = time.perf_counter() - start
    assert info.error_code == 0, info
    _drop_log(directory, log)
    return elapsed


def follower_append(directory: Path, chunks: Sequence[bytes]) -> float:
    """Seconds to append_as_follower each chunk (one fetch response each)."""
    log = _scratch_log(directory)
    append = log.append_as_follower
    start = time.perf_counter()
    for chunk in chunks:
        info = append(chunk)
    elapsed = time.perf_counter() - start
    assert info.error_code == 0, info
    _drop_log(directory, log)
    return elapsed


def replicated_chunks(batch: bytes, records: int, per_chunk: int, total: int) -> list[bytes]:
    """Fetch-response-like chunks of `per_chunk` batches with consecutive offsets."""
    chunks = []
    offset = 0
    for _ in range(max(1, total // (len(batch) * per_chunk))):
        chunk = bytearray(batch * per_chunk)
        for i in range(per_chunk):
            rewrite_in_place(chunk, i * len(batch), offset, 0)
            offset += records
        chunks.append(bytes(chunk))
    return chunks


def mbps(directory: Path, chunks: Sequence[bytes], run: AppendRun) -> float:
    return sum(map(len, chunks)) / run(directory, chunks) / 1e6


def bench_append(directory: Path, total: int, trials: int) -> list[tuple[str, float, float]]:
    """(label, raw MB/s, log MB/s); raw and log trials alternate, best of `trials`."""
    small, small_records = make_batch(16 * 1024)
    large, _ = make_batch(MiB)
    cases: list[tuple[str, list[bytes], AppendRun]] = [
        ("16 KiB batches, 1 per append_as_leader", [small] * (total // len(small)), leader_append),
        (
            "16 KiB batches, 64 per append_as_follower",
            replicated_chunks(small, small_records, 64, total),
            follower_append,
        ),
        ("1 MiB batches, 1 per append_as_leader", [large] * (total // len(large)), leader_append),
    ]
    results = []
    for label, chunks, run in cases:
        raw, ours = 0.0, 0.0
        for _ in range(trials):
            raw = max(raw, mbps(directory, chunks, raw_write))
            ours = max(ours, mbps(directory, chunks, run))
        results.append((label, raw, ours))
    return results


def receive(sock: socket.socket, total: int, done: list[float]) -> None:
    buf = bytearray(4 * MiB)
    got = 0
    while got < total:
        n = sock.recv_into(buf)
        if not n:
            break
        got += n
    done.append(time.perf_counter())


def over_loopback(total: int, serve: Callable[[socket.socket], None]) -> float:
    """MB/s of `serve(sock)` pushing `total` bytes to a reader thread."""
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    server.close()
    done: list[float] = []
    reader = threading.Thread(target=receive, args=(client, total, done))
    reader.start()
    start = time.perf_counter()
    serve(conn)
    reader.join()
    conn.close()
    client.close()
    return total / (done[0] - start) / 1e6


def bench_read(directory: Path, total: int, fetch: int, trials: int) -> dict[str, float]:
    """MB/s per way of serving, best of `trials` (modes alternate)."""
    batch, per_batch = make_batch(16 * 1024)
    batches_per_fetch = max(1, fetch // len(batch))
    fetch_bytes = batches_per_fetch * len(batch)
    fetches = max(1, total // fetch_bytes)
    total = fetches * fetch_bytes
    log = PartitionLog.open(directory / "read-0", LogConfig())
    for _ in range(fetches * batches_per_fetch):
        log.append_as_leader(batch, 0)
    offset_step = batches_per_fetch * per_batch

    def serve_sendfile(sock: socket.socket) -> None:
        out = sock.fileno()
        offset = 0
        for _ in range(fetches):
            for piece in log.read(offset, fetch_bytes).slices:
                position, remaining = piece.position, piece.length
                while remaining:
                    sent = os.sendfile(out, piece.fileno(), position, remaining)
                    position += sent
                    remaining -= sent
            offset += offset_step

    def serve_copy(sock: socket.socket) -> None:
        offset = 0
        for _ in range(fetches):
            sock.sendall(log.read(offset, fetch_bytes).to_bytes())
            offset += offset_step

    memory = os.urandom(fetch_bytes)

    def serve_memory(sock: socket.socket) -> None:
        for _ in range(fetches):
            sock.sendall(memory)

    modes = {
        "raw loopback (memory buffer)": serve_memory,
        "log read + os.sendfile": serve_sendfile,
        "log read + to_bytes + sendall": serve_copy,
    }
    results = dict.fromkeys(modes, 0.0)
    for _ in range(trials):
        for name, serve in modes.items():
            results[name] = max(results[name], over_loopback(total, serve))
    log.close()
    shutil.rmtree(directory / "read-0")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--append-mb", type=int, default=256, help="MiB per append trial")
    parser.add_argument("--trials", type=int, default=5, help="append trials per size")
    parser.add_argument("--read-mb", type=int, default=1024, help="MiB served per read test")
    parser.add_argument("--read-trials", type=int, default=3, help="trials per way of serving")
    parser.add_argument("--fetch-kb", type=int, default=1024, help="fetch size in KiB")
    parser.add_argument("--dir", default=None, help="scratch directory (default: system tmp)")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench_log-", dir=args.dir))
    try:
        began = time.perf_counter()
        rows = []
        for label, raw, ours in bench_append(directory, args.append_mb * MiB, args.trials):
            rows.append((f"append {label}: raw os.write of the same chunks", raw, "1.00"))
            rows.append((f"append {label}: log", ours, f"{ours / raw:.2f}"))
        read = bench_read(directory, args.read_mb * MiB, args.fetch_kb * 1024, args.read_trials)
        ceiling = read["raw loopback (memory buffer)"]
        for name, mbps in read.items():
            rows.append(
                (
                    f"serve {args.read_mb} MiB, {args.fetch_kb} KiB fetches: {name}",
                    mbps,
                    f"{mbps / ceiling:.2f}",
                )
            )
        print(
            f"python {platform.python_version()}, {platform.machine()}, "
            f"{os.cpu_count()} cpus, scratch {directory.parent}, "
            f"{time.perf_counter() - began:.0f} s\n"
        )
        print("| benchmark | MB/s | ratio to raw |")
        print("| --- | ---: | ---: |")
        for name, mbps, ratio in rows:
            print(f"| {name} | {mbps:,.0f} | {ratio} |")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
