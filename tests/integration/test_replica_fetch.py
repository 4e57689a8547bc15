"""Follower fetches are only for replicas (CVE-2018-1288)."""

from __future__ import annotations

import dataclasses

from kio.schema.errors import ErrorCode

from tests.integration.dev import DevNode
from tests.integration.protocol import (
    batch,
    call,
    connect,
    create_topic,
    fetch_v12,
    only_partition,
    produce_v12,
    read_all,
)


async def test_a_client_posing_as_a_follower_is_refused(dev_node: DevNode) -> None:
    """A Fetch with a replica id that is not a replica of the partition gets
    NOT_LEADER_OR_FOLLOWER and reads nothing; the partition's data and high
    watermark are untouched, and a consumer fetch still works."""
    async with connect(dev_node.bootstrap) as conn:
        await create_topic(conn, "guarded")
        answer = only_partition(await conn.request(produce_v12("guarded", 0, batch(3)), 10))
        assert answer.error_code == ErrorCode.none
        posing = dataclasses.replace(fetch_v12("guarded", 0, 0), replica_id=42)
        refused = only_partition(await call(dev_node.bootstrap, posing))
        assert refused.error_code == ErrorCode.not_leader_or_follower
        assert not refused.records
        consumer = only_partition(await conn.request(fetch_v12("guarded", 0, 0), 10))
        assert consumer.error_code == ErrorCode.none and consumer.high_watermark == 3
        assert len(await read_all(conn, "guarded")) == 3
