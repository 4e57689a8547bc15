"""Kafka's Uuid: 16 bytes written as URL-safe base64 without padding (22 chars).

`random_uuid` draws the way Kafka 4.x's `Uuid.randomUuid` does: never one of
the reserved ids (all zero; 0...01, the metadata topic's id) and never one
whose text contains '-', so an id can always be passed on a command line
(`kafka-storage format -t <id>`) without reading as an option.
"""

from __future__ import annotations

import base64
import random
import uuid

RESERVED = frozenset({uuid.UUID(int=0), uuid.UUID(int=1)})


def encode(value: uuid.UUID) -> str:
    """Kafka's text form of a Uuid."""
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def random_uuid(rng: random.Random | None = None) -> uuid.UUID:
    """A version-4 Uuid as Kafka's randomUuid draws it; `rng` for deterministic callers."""
    while True:
        value = (uuid.uuid4() if rng is None
                 else uuid.UUID(int=rng.getrandbits(128), version=4))
        if value not in RESERVED and "-" not in encode(value):
            return value
