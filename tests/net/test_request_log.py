"""The request log: one DEBUG line per request, with API, version, client, partitions,
errors and time."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from confluent_kafka import Producer
from kio.schema.errors import ErrorCode
from kio.schema.produce.v9 import request as preq
from kio.schema.produce.v9 import response as presp

from kraft.net import request_log
from kraft.testing import Broker


def _produce_request() -> preq.ProduceRequest:
    return preq.ProduceRequest(
        transactional_id=None, acks=-1, timeout=timedelta(seconds=5),
        topic_data=(preq.TopicProduceData(name="orders", partition_data=(
            preq.PartitionProduceData(index=0, records=b""),
            preq.PartitionProduceData(index=3, records=b""))),))


def _produce_response(codes: list[ErrorCode]) -> presp.ProduceResponse:
    return presp.ProduceResponse(throttle_time=timedelta(0), responses=(
        presp.TopicProduceResponse(name="orders", partition_responses=tuple(
            presp.PartitionProduceResponse(
                index=i, error_code=code, base_offset=-1, log_append_time=None,
                log_start_offset=-1, record_errors=(), error_message=None)
            for i, code in enumerate(codes))),))


def test_line_names_api_client_partitions_errors_and_time(
        caplog: pytest.LogCaptureFixture) -> None:
    """A line has the API and version, client id, each partition and the counted errors."""
    caplog.set_level(logging.DEBUG, logger="kraft.request")
    request_log.log_request(9, "rdkafka", "127.0.0.1:5000", "PLAINTEXT", _produce_request(),
                            _produce_response([ErrorCode.not_leader_or_follower,
                                               ErrorCode.not_leader_or_follower]), 0.0012)
    line = caplog.records[-1].getMessage()
    assert line == ("Produce v9 client_id=rdkafka peer=127.0.0.1:5000 listener=PLAINTEXT "
                    "partitions=orders-0,orders-3 errors=NOT_LEADER_OR_FOLLOWERx2 time=1.20 ms")


def test_success_is_none_and_acks_zero_says_no_response(
        caplog: pytest.LogCaptureFixture) -> None:
    """All-zero error codes read `none`; a request answered with nothing says so."""
    caplog.set_level(logging.DEBUG, logger="kraft.request")
    request_log.log_request(9, None, "p", "L", _produce_request(),
                            _produce_response([ErrorCode.none]), 0)
    request_log.log_request(9, None, "p", "L", _produce_request(), None, 0)
    assert "errors=none" in caplog.records[-2].getMessage()
    assert "errors=no response" in caplog.records[-1].getMessage()


def test_off_unless_debug() -> None:
    """At INFO the server does not build request log lines at all."""
    logging.getLogger("kraft.request").setLevel(logging.INFO)
    try:
        assert not request_log.enabled()
    finally:
        logging.getLogger("kraft.request").setLevel(logging.NOTSET)


@pytest.mark.slow
def test_a_dev_node_at_debug_logs_each_request() -> None:
    """`kraft dev --log-level DEBUG` logs librdkafka's ApiVersions, Metadata and Produce."""
    with Broker(log_level="DEBUG") as broker:
        topic = broker.new_topic("logged", partitions=2)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers,
                             "client.id": "request-log-test"})
        producer.produce(topic, value=b"x", partition=1)
        assert producer.flush(30) == 0
        text = broker.log_path.read_text()
    lines = [line for line in text.splitlines() if "kraft.request" in line
             and "client_id=request-log-test" in line]
    assert any(re.search(r"ApiVersions v\d+ ", line) for line in lines), lines
    produce = [line for line in lines if re.search(r"Produce v\d+ ", line)]
    assert produce and f"partitions={topic}-1 errors=none" in produce[0], produce
