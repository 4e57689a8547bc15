"""kraft.kafka_uuid: ids drawn and written as Kafka 4.x draws and writes them."""

from __future__ import annotations

import random
import uuid

from kraft import kafka_uuid, meta_properties


def test_random_ids_never_contain_a_dash_or_a_reserved_value() -> None:
    """As Kafka 4.4's Uuid.randomUuid: no '-' anywhere in the text, never 0 or 1."""
    rng = random.Random(7)
    for _ in range(20_000):
        value = kafka_uuid.random_uuid(rng)
        text = kafka_uuid.encode(value)
        assert len(text) == 22 and "-" not in text
        assert value not in kafka_uuid.RESERVED and value.version == 4


def test_cluster_ids_are_accepted_by_format() -> None:
    """random-uuid's output always passes the cluster id check of kraft format."""
    for _ in range(2_000):
        cluster_id = meta_properties.random_uuid()
        assert not cluster_id.startswith("-")
        meta_properties.check_cluster_id(cluster_id)


def test_encode_is_url_safe_base64_unpadded() -> None:
    """The text form is the 16 bytes in URL-safe base64 without '=' padding."""
    value = uuid.UUID("fb3f1e7a-0000-4000-8000-00000000abcd")
    assert kafka_uuid.encode(value) == "-z8eegAAQACAAAAAAACrzQ"
