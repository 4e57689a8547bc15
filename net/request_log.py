"""The request log: one DEBUG line per request served (Kafka's kafka.request.logger).

Enable it with the logger `kraft.request` at DEBUG (`kraft dev --log-level
DEBUG` enables every logger). Each line names the API and version, the
client id, the peer and listener, the partitions the request names, the
error codes of the response (counted; "none" when every code is 0) and the
time from decoding the request to its response being ready (for acks=all
produces and long-poll fetches that includes the wait):

    Produce v9 client_id=rdkafka peer=127.0.0.1:53122 listener=PLAINTEXT
    partitions=orders-0,orders-1 errors=none time=0.41 ms

Costs nothing when the logger is off: the server checks `enabled()` first.
Partitions and error codes are found by walking the kio message, so every
API is covered without a per-API table; a request naming more than
MAX_PARTITIONS partitions is shown with its first ones and a count.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from typing import Any

from kio.schema.errors import ErrorCode

log = logging.getLogger("kraft.request")

MAX_PARTITIONS = 20
_TOPIC_FIELDS = ("name", "topic", "topic_name")
_PARTITION_FIELDS = ("partition_index", "index", "partition", "partition_id")


def enabled() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def log_request(api_version: int, client_id: str | None, peer: str, listener: str,
                request: Any, response: Any, elapsed_s: float) -> None:
    """Write the request's line (the caller checked `enabled()`)."""
    api = type(request).__name__.removesuffix("Request")
    log.debug("%s v%d client_id=%s peer=%s listener=%s partitions=%s errors=%s time=%.2f ms",
              api, api_version, client_id, peer, listener, _partitions(request),
              "no response" if response is None else _errors(response), elapsed_s * 1000)


def _partitions(request: Any) -> str:
    found: list[str] = []
    _collect_partitions(request, None, found)
    if not found:
        return "-"
    shown = ",".join(found[:MAX_PARTITIONS])
    return shown if len(found) <= MAX_PARTITIONS else f"{shown},...({len(found)} in all)"


def _collect_partitions(node: Any, topic: str | None, out: list[str]) -> None:
    if not dataclasses.is_dataclass(node):
        return
    for name in _TOPIC_FIELDS:
        value = getattr(node, name, None)
        if isinstance(value, str):
            topic = value
            break
    if topic is not None:
        for name in _PARTITION_FIELDS:
            value = getattr(node, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                out.append(f"{topic}-{value}")
                return
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, tuple):
            for item in value:
                if dataclasses.is_dataclass(item):
                    _collect_partitions(item, topic, out)
                elif isinstance(item, int) and not isinstance(item, bool) and topic is not None \
                        and field.name in ("partitions", "partition_indexes"):
                    out.append(f"{topic}-{item}")
        elif dataclasses.is_dataclass(value):
            _collect_partitions(value, topic, out)


def _errors(response: Any) -> str:
    counts: Counter[str] = Counter()
    _collect_errors(response, counts)
    if not counts:
        return "none"
    return ",".join(f"{name.upper()}x{n}" if n > 1 else name.upper()
                    for name, n in sorted(counts.items()))


def _collect_errors(node: Any, counts: Counter[str]) -> None:
    if not dataclasses.is_dataclass(node):
        return
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, ErrorCode):
            if value != ErrorCode.none:
                counts[value.name] += 1
        elif isinstance(value, tuple):
            for item in value:
                _collect_errors(item, counts)
        elif dataclasses.is_dataclass(value):
            _collect_errors(value, counts)
