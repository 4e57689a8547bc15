#!/usr/bin/env python3
"""Benchmark: frame decoding and Produce request parsing on the server's path.

A stream of Produce v9 requests (each one topic, one partition, one record
batch of --batch-bytes) is cut into 256 KiB reads, as the server receives
them, and pushed through each stage of the request path:

  copy        reference: copying the same bytes in memory (bytes(memoryview))
  frames      FrameDecoder alone: size prefixes and frame bodies
  header      frames + request header decode
  full        frames + header + guard + kio body decode (what the server does)

Prints requests/s and MB/s per stage as a markdown table. Usage:
    .venv/bin/python scripts/bench_net.py [--batch-bytes 16384] [--seconds 2]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

from kraft.net.codec import decode_request, decode_request_header, encode_request, request_type
from kraft.net.framing import FrameDecoder

CHUNK = 256 * 1024


def build_stream(batch_bytes: int, count: int) -> bytes:
    cls = request_type(0, 9)
    mod = __import__(cls.__module__, fromlist=["TopicProduceData"])
    request = cls(
        transactional_id=None,
        acks=-1,
        timeout=timedelta(seconds=30),
        topic_data=(
            mod.TopicProduceData(
                name="bench",
                partition_data=(
                    mod.PartitionProduceData(index=0, records=os.urandom(batch_bytes)),
                ),
            ),
        ),
    )
    one = encode_request(1, "bench-client", request)
    return one * count


def run(stage: str, stream: bytes, seconds: float) -> tuple[float, float]:
    view = memoryview(stream)
    chunks = [view[i : i + CHUNK] for i in range(0, len(view), CHUNK)]
    requests = 0
    total = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if stage == "copy":
            for chunk in chunks:
                bytes(chunk)
            total += len(stream)
            requests += 0
            continue
        decoder = FrameDecoder()
        for chunk in chunks:
            decoder.receive_data(chunk)
            while (frame := decoder.next_frame()) is not None:
                if stage == "header":
                    decode_request_header(frame, 2)
                elif stage == "full":
                    decode_request(frame)
                requests += 1
        total += len(stream)
    elapsed = time.perf_counter() - start
    return requests / elapsed, total / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-bytes", type=int, nargs="+", default=[100, 1024, 16384])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print("| batch bytes | stage | requests/s | MB/s |")
    print("| ---: | --- | ---: | ---: |")
    for batch in args.batch_bytes:
        stream = build_stream(batch, max(1, (32 << 20) // (batch + 100)))
        for stage in ("copy", "frames", "header", "full"):
            rps, mbps = run(stage, stream, args.seconds)
            rps_text = "-" if stage == "copy" else f"{rps:,.0f}"
            print(f"| {batch} | {stage} | {rps_text} | {mbps:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
