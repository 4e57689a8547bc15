"""Bootstrap records: metadata written by `kraft format` for the first controller.

`kraft format --add-scram ...` (Kafka's kafka-storage option) cannot write
the metadata log: only an active controller does that. As Kafka's
bootstrap.checkpoint, the records go into a file in the metadata log dir,
`bootstrap.records`, and the controller that first activates on an empty
log (no metadata.version yet) writes them right after the
metadata.version record, in the same batch. Every controller is formatted
with the same options, so whichever is first writes the same records.

File layout: the magic `kraft-bootstrap-v1\n`, then per record an int32
length and the record (kraft.metadata.records encoding), then a CRC32C of
everything before it. Written atomically; a file that does not check out is
an error at startup, never a silently empty bootstrap.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from kraft.log.checkpoint import atomic_write
from kraft.log.crc import crc32c
from kraft.metadata.records import MetadataRecord, RecordDecodeError, decode, encode

__all__ = ["FILE_NAME", "BootstrapError", "read", "write"]

FILE_NAME = "bootstrap.records"
_MAGIC = b"kraft-bootstrap-v1\n"
_I32 = struct.Struct(">I")


class BootstrapError(Exception):
    """The bootstrap file is damaged; str() names it."""


def write(directory: str | Path, records: Sequence[MetadataRecord]) -> Path:
    """Write `records` as the bootstrap of `directory` (created if missing)."""
    body = bytearray(_MAGIC)
    for record in records:
        data = encode(record)
        body += _I32.pack(len(data)) + data
    body += _I32.pack(crc32c.crc32c(bytes(body)))
    path = Path(directory) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, bytes(body))
    return path


def read(directory: str | Path) -> list[MetadataRecord]:
    """The bootstrap records of `directory` ([] when there is no file)."""
    path = Path(directory) / FILE_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 4:
        raise BootstrapError(f"{path} is not a kraft bootstrap file")
    (crc,) = _I32.unpack_from(data, len(data) - 4)
    if crc32c.crc32c(data[:-4]) != crc:
        raise BootstrapError(f"{path} is damaged (checksum mismatch); format again")
    records = []
    pos, end = len(_MAGIC), len(data) - 4
    try:
        while pos < end:
            (size,) = _I32.unpack_from(data, pos)
            pos += 4
            records.append(decode(data[pos:pos + size]))
            pos += size
    except (struct.error, RecordDecodeError) as e:
        raise BootstrapError(f"{path} is damaged: {e}") from None
    return records
