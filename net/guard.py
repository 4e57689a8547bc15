"""Length checks that run before kio's native decoder sees a message.

Why this exists: kio's native reader trusts array lengths. A Metadata request
whose topics array claims 2**35 elements makes it try to reserve hundreds of
GB, and the process aborts ("memory allocation of ... bytes failed"), taking
the whole broker down with it. That is CVE-2022-34917's class of bug, which
Kafka fixed by checking every length against the bytes remaining. We cannot
change kio, so `check(cls, buf, pos)` walks the message's schema first,
reading only lengths and skipping payloads, and raises `Malformed` as soon as
any length exceeds what remains (an element takes at least one byte, a fixed
size element exactly its size). Only a message that passes is handed to kio.

Two more disagreements are settled here. kio reads a known tagged field's
value without regard to its declared size, so a size that the value does
not fill exactly is Malformed (else the parsers would part ways). kio raises
on unknown tags, which Kafka's protocol says to skip, so those are cut out of
a copy of the message before kio reads it.

The walk is compiled once per entity class from kio's own field metadata
(`kafka_type`, tags, optionality), mirroring kio's writer rules, so it covers
every API and version kio does. Cost: a few microseconds per request; Produce
and Fetch carry their record data as one length-prefixed blob that is skipped,
not walked.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import fields
from functools import cache

from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveTupleField,
    classify_field,
    get_field_tag,
    get_schema_field_type,
    is_optional,
)

# (buf, pos, end) -> new pos
Step = Callable[[memoryview, int, int, list["Edit"]], int]
Edit = tuple[int, int, bytes]  # replace buf[start:end] with bytes

_FIXED = {
    "int8": 1, "uint8": 1, "bool": 1,
    "int16": 2, "uint16": 2, "error_code": 2,
    "int32": 4, "uint32": 4, "timedelta_i32": 4,
    "int64": 8, "uint64": 8, "float64": 8, "timedelta_i64": 8, "datetime_i64": 8,
    "uuid": 16,
}
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


class Malformed(Exception):
    """A length in the message runs past its end."""


def check(cls: type, buf: bytes | memoryview, pos: int) -> bytes | None:
    """Raise Malformed unless every length in `cls`'s encoding at `pos` fits.

    Returns None when kio can read `buf` as it is, or a copy of `buf` with
    unknown tagged fields removed (kio refuses those; Kafka ignores them).
    """
    view = memoryview(buf)
    edits: list[Edit] = []
    try:
        _entity_step(cls)(view, pos, len(view), edits)
    except (IndexError, struct.error) as e:
        raise Malformed(f"{cls.__name__} runs past the end: {e}") from e
    if not edits:
        return None
    out = bytearray()
    at = 0
    for start, stop, replacement in sorted(edits):
        out += view[at:start]
        out += replacement
        at = stop
    out += view[at:]
    return bytes(out)


def _uvarint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _need(pos: int, n: int, end: int) -> int:
    if n < 0 or pos + n > end:
        raise Malformed(f"length {n} at {pos} exceeds the {end - pos} bytes remaining")
    return pos + n


def read_uvarint(buf: memoryview | bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, next position) of the unsigned varint at `pos`; Malformed if bad."""
    if pos < end and buf[pos] < 0x80:  # one-byte varints are the common case
        return buf[pos], pos + 1
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise Malformed("bad unsigned varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _blob_step(kafka_type: str, flexible: bool) -> Step:
    """Strings, bytes and records: a length then that many bytes; -1 / 0 is null."""
    if flexible:
        def compact(buf: memoryview, pos: int, end: int, edits: list[Edit]) -> int:
            n, pos = read_uvarint(buf, pos, end)
            return pos if n == 0 else _need(pos, n - 1, end)
        return compact
    width = _I16 if kafka_type == "string" else _I32

    def legacy(buf: memoryview, pos: int, end: int, edits: list[Edit]) -> int:
        _need(pos, width.size, end)
        (n,) = width.unpack_from(buf, pos)
        pos += width.size
        return pos if n == -1 else _need(pos, n, end)
    return legacy


def _primitive_step(kafka_type: str, flexible: bool) -> Step:
    size = _FIXED.get(kafka_type)
    if size is not None:
        return lambda buf, pos, end, edits: _need(pos, size, end)
    if kafka_type in ("string", "bytes", "records"):
        return _blob_step(kafka_type, flexible)
    raise AssertionError(f"unknown kafka_type {kafka_type!r}")


def _array_step(item: Step, item_size: int | None, flexible: bool) -> Step:
    def array(buf: memoryview, pos: int, end: int, edits: list[Edit]) -> int:
        if flexible:
            n, pos = read_uvarint(buf, pos, end)
            n -= 1
        else:
            _need(pos, 4, end)
            (n,) = _I32.unpack_from(buf, pos)
            pos += 4
        if n < 0:
            return pos  # null array
        if item_size is not None:
            return _need(pos, n * item_size, end)
        _need(pos, n, end)  # every element takes at least one byte
        for _ in range(n):
            pos = item(buf, pos, end, edits)
        return pos
    return array


def _nullable(step: Step) -> Step:
    def nullable(buf: memoryview, pos: int, end: int, edits: list[Edit]) -> int:
        _need(pos, 1, end)
        marker = buf[pos]
        pos += 1
        return pos if marker == 0xFF else step(buf, pos, end, edits)
    return nullable


@cache
def _entity_step(cls: type) -> Step:
    flexible: bool = cls.__flexible__  # type: ignore[attr-defined]
    steps: list[Step] = []
    tagged: dict[int, Step] = {}
    for field in fields(cls):
        tag = get_field_tag(field)
        kind = classify_field(field)
        if isinstance(kind, EntityTupleField):
            step = _array_step(_entity_step(kind.type_), None, flexible)
        elif isinstance(kind, EntityField):
            step = _entity_step(kind.type_)
            if tag is None and is_optional(field):
                step = _nullable(step)
        elif isinstance(kind, PrimitiveTupleField):
            kafka_type = get_schema_field_type(field)
            step = _array_step(
                _primitive_step(kafka_type, flexible), _FIXED.get(kafka_type), flexible
            )
        else:
            step = _primitive_step(get_schema_field_type(field), flexible)
        if tag is None:
            steps.append(step)
        else:
            tagged[int(tag)] = step

    def entity(buf: memoryview, pos: int, end: int, edits: list[Edit]) -> int:
        for step in steps:
            pos = step(buf, pos, end, edits)
        if flexible:
            count_at = pos
            count, pos = read_uvarint(buf, pos, end)
            count_end = pos
            _need(pos, count, end)
            unknown: list[Edit] = []
            for _ in range(count):
                entry_start = pos
                tag, pos = read_uvarint(buf, pos, end)
                size, pos = read_uvarint(buf, pos, end)
                field_end = _need(pos, size, end)
                known = tagged.get(tag)
                if known is None:
                    unknown.append((entry_start, field_end, b""))
                elif known(buf, pos, field_end, edits) != field_end:
                    # kio reads a known tag's value without looking at its
                    # declared size; if they disagree the two parsers would
                    # part ways and kio would read unchecked bytes.
                    raise Malformed(f"tagged field {tag} does not fill its {size} bytes")
                pos = field_end
            if unknown:
                # Kafka skips tags it does not know; kio raises on them, so
                # they are cut out (and the count rewritten) before kio reads.
                edits.append((count_at, count_end, _uvarint_bytes(count - len(unknown))))
                edits.extend(unknown)
        return pos

    return entity
