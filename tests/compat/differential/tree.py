"""Responses as plain trees, normalised, and compared field by field.

`to_tree(response)` turns a kio response into JSON-able values: entities
become dicts of their fields, tuples lists, error codes "NAME (code)" in
Kafka's spelling, durations milliseconds, Uuids Kafka's base64 text, and
record bytes a list of batches (header fields and, when uncompressed, each
record's key, value and headers), so that a difference in a fetched batch
shows as the field that differs.

`normalise(tree, rules)` removes what must differ between two brokers. A rule
is "KIND:GLOB"; GLOB is matched (fnmatch) against the field's path without
list indices, fields joined by "/" (e.g. "topics/partitions/leader_epoch").
Kinds:

- any   the value becomes "<any>" (ports, throttle times, byte counts of a disk);
- id    each distinct value becomes "<id N>" in order of first appearance in
        the response, so that one id used in two places still matches, while
        sentinels (None, "", -1, 0, the zero Uuid) are kept as they are;
- time  wall-clock times become "<time>"; negative sentinels and the fixed
        timestamps scenarios write (below FIXED_TIME_LIMIT) are kept;
- drop  the field is removed;
- sort  the list is sorted (by the first of SORT_KEYS its items have), for
        answers whose order is not part of the contract;
- map   "map:GLOB=FIELD": the list becomes a dict keyed by each item's FIELD
        (a `Keyed`), so that one entry missing on one side is one difference
        rather than a shift of every later index (config lists). Rules below a
        mapped list match as if it were still a list.

`diff(kafka, kraft)` lists every leaf where the normalised trees differ, with
the path including list indices.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import fnmatch
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from kraft.kafka_uuid import encode as encode_uuid
from kraft.log.batch import iter_batches
from kraft.log.records import iter_records

ZERO_UUID_TEXT = encode_uuid(uuid.UUID(int=0))
FIXED_TIME_LIMIT = 1_650_000_000_000  # scenarios write timestamps below this (2022-04)
SENTINELS = (None, "", -1, 0, ZERO_UUID_TEXT)
SORT_KEYS = ("name", "topic", "topic_name", "resource_name", "group_id", "api_key", "node_id",
             "broker_id", "replica_id", "partition_index", "partition", "key", "log_dir")

# What must differ between any two brokers, for every scenario.
DEFAULT_RULES: tuple[str, ...] = (
    "any:throttle_time", "any:*/throttle_time",
    "id:cluster_id", "id:*/cluster_id",
    "any:port", "any:*/port",
    "id:topic_id", "id:*/topic_id",
    "id:member_id", "id:*/member_id", "id:leader", "id:*/leader_member_id",
    "id:producer_id", "id:*/producer_id",
    "id:session_id",
    "id:*directory_id", "id:*incarnation_id",
    "time:*timestamp*", "time:*log_append_time*", "time:*/last_*_ms",
    "any:*/log_dir", "any:*/total_bytes", "any:*/usable_bytes",
    "sort:topics", "sort:*/topics", "sort:results", "sort:*/configs", "sort:brokers",
    "sort:responses", "sort:*/partitions", "sort:groups", "sort:api_keys",
)


class Keyed(dict):  # type: ignore[type-arg]
    """A list turned into a dict by a "map" rule: its keys are not field names."""


def error_text(code: enum.Enum) -> str:
    return f"{code.name.upper()} ({code.value})"


def to_tree(value: Any, field: str = "") -> Any:
    """A kio entity (or any value in one) as JSON-able data; see the module docstring."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_tree(getattr(value, f.name), f.name)
                for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return error_text(value) if type(value).__name__ == "ErrorCode" else value.value
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (tuple, list, frozenset, set)):
        return [to_tree(v, field) for v in value]
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds() * 1000)
    if isinstance(value, datetime.datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, uuid.UUID):
        return encode_uuid(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return records_tree(data) if field == "records" else bytes_text(data)
    return repr(value)


def bytes_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + data[:256].hex() + ("..." if len(data) > 256 else "")
    return "utf8:" + text if text.isprintable() else "hex:" + data[:256].hex()


def records_tree(data: bytes) -> Any:
    """Record batches as a list of dicts; a partial batch at the end (fetch responses
    cut at max_bytes) is reported by its size."""
    batches: list[Any] = []
    end = 0
    try:
        for pos, header in iter_batches(data, allow_partial_tail=True):
            batch: dict[str, Any] = {
                k: getattr(header, k) for k in (
                    "base_offset", "partition_leader_epoch", "magic", "attributes",
                    "last_offset_delta", "base_timestamp", "max_timestamp", "producer_id",
                    "producer_epoch", "base_sequence", "records_count")}
            batch["size"] = header.size
            if header.compression == 0 and not header.is_control:
                batch["records"] = [
                    {"offset": r.offset, "timestamp": r.timestamp,
                     "key": None if r.key is None else bytes_text(r.key),
                     "value": None if r.value is None else bytes_text(r.value),
                     "headers": [[k, None if v is None else bytes_text(v)]
                                 for k, v in r.headers]}
                    for r in iter_records(data[pos:pos + header.size])]
            batches.append(batch)
            end = pos + header.size
    except Exception as e:
        return {"undecodable": f"{type(e).__name__}: {e}", "bytes": len(data)}
    if end < len(data):
        batches.append({"partial_batch_bytes": len(data) - end})
    return batches


# ---------------------------------------------------------------- normalising


def _matches(path: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in globs)


def _sort_key(item: Any) -> Any:
    if isinstance(item, dict):
        for key in SORT_KEYS:
            if key in item:
                return (0, json.dumps(item[key], sort_keys=True, default=str))
    return (1, json.dumps(item, sort_keys=True, default=str))


def normalise(tree: Any, rules: Iterable[str]) -> Any:
    """`tree` with `rules` applied (see the module docstring); `tree` is not changed."""
    by_kind: dict[str, list[str]] = {}
    for rule in rules:
        kind, _, glob = rule.partition(":")
        if kind not in ("any", "id", "time", "drop", "sort", "map"):
            raise ValueError(f"unknown normalisation kind {kind!r} in {rule!r}")
        by_kind.setdefault(kind, []).append(glob)
    ids: dict[str, str] = {}

    def shape(node: Any, path: str) -> Any:
        """Pass 1: drop, sort, any and time."""
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                sub = f"{path}/{key}" if path else key
                if not _matches(sub, by_kind.get("drop", ())):
                    out[key] = shape(value, sub)
            node = out
        elif isinstance(node, list):
            node = [shape(v, path) for v in node]
            if _matches(path, by_kind.get("sort", ())):
                node.sort(key=_sort_key)
            for glob in by_kind.get("map", ()):
                pattern, _, key = glob.partition("=")
                if fnmatch.fnmatchcase(path, pattern):
                    node = Keyed((str(item.get(key)) if isinstance(item, dict) else str(item),
                                  item) for item in node)
                    break
        if path and _matches(path, by_kind.get("any", ())):
            return "<any>"
        if (path and isinstance(node, int) and not isinstance(node, bool)
                and node >= FIXED_TIME_LIMIT and _matches(path, by_kind.get("time", ()))):
            return "<time>"
        return node

    def number(node: Any, path: str) -> Any:
        """Pass 2, on the sorted tree: ids numbered in order of first appearance."""
        if isinstance(node, Keyed):
            return Keyed((k, number(v, path)) for k, v in node.items())
        if isinstance(node, dict):
            return {k: number(v, f"{path}/{k}" if path else k) for k, v in node.items()}
        if isinstance(node, list):
            return [number(v, path) for v in node]
        if path and node not in SENTINELS and _matches(path, by_kind.get("id", ())):
            key = json.dumps(node, default=str)
            return ids.setdefault(key, f"<id {len(ids) + 1}>")
        return node

    return number(shape(tree, ""), "")


# ---------------------------------------------------------------- comparing


@dataclasses.dataclass(frozen=True, slots=True)
class Difference:
    """One leaf where the two answers differ: `path` with list indices, `field`
    without (for grouping), and each side's value."""

    path: str
    field: str
    kafka: Any
    kraft: Any


MISSING = "<absent>"


def diff(kafka: Any, kraft: Any, path: str = "", field: str = "") -> Iterator[Difference]:
    """Every leaf where `kafka` and `kraft` differ."""
    if isinstance(kafka, Keyed) and isinstance(kraft, Keyed):
        for key in list(kafka) + [k for k in kraft if k not in kafka]:
            yield from diff(kafka.get(key, MISSING), kraft.get(key, MISSING), f"{path}[{key}]",
                            field)
    elif isinstance(kafka, dict) and isinstance(kraft, dict):
        for key in list(kafka) + [k for k in kraft if k not in kafka]:
            sub, subfield = f"{path}/{key}" if path else key, f"{field}/{key}" if field else key
            yield from diff(kafka.get(key, MISSING), kraft.get(key, MISSING), sub, subfield)
    elif isinstance(kafka, list) and isinstance(kraft, list):
        if len(kafka) != len(kraft):
            yield Difference(f"{path}#len", f"{field}#len", len(kafka), len(kraft))
        for i, (a, b) in enumerate(zip(kafka, kraft, strict=False)):
            yield from diff(a, b, f"{path}[{i}]", field)
        longer, side = (kafka, "kafka") if len(kafka) > len(kraft) else (kraft, "kraft")
        for i in range(min(len(kafka), len(kraft)), len(longer)):
            value = longer[i]
            yield Difference(f"{path}[{i}]", field, value if side == "kafka" else MISSING,
                             value if side == "kraft" else MISSING)
    elif kafka != kraft:
        yield Difference(path, field, kafka, kraft)
