"""AllocateProducerIds (kraft.controller.producer_ids): blocks of 1000, never reused."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.controller.producer_ids import PRODUCER_ID_BLOCK_SIZE, allocate_producer_ids
from kraft.controller.result import apply_records
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import ProducerIdsRecord
from kraft.net.codec import encode_response, request_type
from kraft.net.messages import build
from tests.controller.test_partition_change import broker, cluster_image, context, replay


def allocate(image: MetadataImage, broker_id: int, broker_epoch: int) -> Any:
    request = build(request_type(67, 0), broker_id=broker_id, broker_epoch=broker_epoch)
    return allocate_producer_ids(image, request, 0, context(image))


def test_first_block_starts_at_zero() -> None:
    """The first block is [0, 1000) and the record moves the next id to 1000."""
    image = cluster_image(broker(1))
    result = allocate(image, 1, 1)
    assert result.records == (
        ProducerIdsRecord(broker_id=1, broker_epoch=1, next_producer_id=1000),
    )
    r = result.response
    assert (r.error_code, r.producer_id_start, r.producer_id_len) == (ErrorCode.none, 0, 1000)
    assert apply_records(image, result.records).producer_ids.next_producer_id == 1000
    encode_response(1, r)


def test_next_block_follows_the_image() -> None:
    """A block starts where the image's next producer id says."""
    image = cluster_image(
        broker(1), ProducerIdsRecord(broker_id=-1, broker_epoch=-1, next_producer_id=5000)
    )
    result = allocate(image, 1, 1)
    assert result.response.producer_id_start == 5000
    assert result.records == (
        ProducerIdsRecord(broker_id=1, broker_epoch=1, next_producer_id=6000),
    )


def test_unknown_broker_and_stale_epoch() -> None:
    """An unknown broker gets BROKER_ID_NOT_REGISTERED, a stale epoch STALE_BROKER_EPOCH;
    neither writes a record."""
    image = cluster_image(broker(1))
    unknown, stale = allocate(image, 2, 1), allocate(image, 1, 9)
    assert unknown.response.error_code == ErrorCode.broker_id_not_registered
    assert stale.response.error_code == ErrorCode.stale_broker_epoch
    assert unknown.records == stale.records == ()
    assert stale.response.producer_id_len == 0
    encode_response(1, stale.response)


def test_exhausted_id_space() -> None:
    """When a whole block no longer fits in int64 the allocation fails."""
    last = 2**63 - 1 - PRODUCER_ID_BLOCK_SIZE + 1
    image = cluster_image(
        broker(1), ProducerIdsRecord(broker_id=-1, broker_epoch=-1, next_producer_id=last)
    )
    result = allocate(image, 1, 1)
    assert result.records == ()
    assert result.response.error_code == ErrorCode.unknown_server_error


@given(requesters=st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=20))
def test_blocks_are_disjoint_and_contiguous(requesters: list[int]) -> None:
    """Successive allocations, by any brokers, hand out contiguous disjoint blocks."""
    image = cluster_image(broker(1), broker(2), broker(3))
    expected_start = 0
    for broker_id in requesters:
        result = allocate(image, broker_id, image.cluster.brokers[broker_id].broker_epoch)
        assert result.response.producer_id_start == expected_start
        expected_start += result.response.producer_id_len
        image = replay(image, result.records)
        assert image.producer_ids.next_producer_id == expected_start
