"""Ids kraft generates have the form Kafka 4.4's generator gives them."""

from __future__ import annotations

import re
import subprocess

from kraft.meta_properties import random_uuid
from tests.compat.kafka_dist import KafkaDist

DRAWS = 2000  # a generator that allows '-' (one id in three has one) cannot pass


def test_kafka_random_uuid_has_no_dash(kafka: KafkaDist) -> None:
    """`kafka-storage random-uuid` prints 22 URL-safe base64 characters without '-'
    (Kafka's Uuid.randomUuid draws again, KAFKA-20072): the judge of the test below."""
    out = subprocess.run(kafka.tool("kafka-storage", "random-uuid"), text=True,
                         capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r"[A-Za-z0-9_]{22}", out.stdout.strip()), out.stdout


def test_random_uuid_has_no_dash() -> None:
    """kraft's random ids (cluster ids, directory ids) never contain '-', as
    Kafka's; an id starting with '-' reads as an option in `kraft format -t ID`."""
    assert [i for i in (random_uuid() for _ in range(DRAWS)) if "-" in i] == []
