"""Controller registrations (KIP-919): the ControllerRegistration command, the
manager that sends it until the log holds it, and DescribeCluster on the
controller listener answering from the registrations."""

from __future__ import annotations

import itertools
import uuid
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing
from kio.schema.describe_cluster.v1.request import DescribeClusterRequest
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8

from kraft.config import KafkaConfig
from kraft.controller import registrations
from kraft.controller.apis import describe_cluster
from kraft.controller.registration_manager import (
    SUPPORTED_FEATURES,
    ControllerRegistrationManager,
    RegisteredListener,
)
from kraft.controller.result import ControllerContext, apply_records
from kraft.metadata.image import EMPTY, MetadataImage
from kraft.metadata.records import BrokerEndpoint, RegisterControllerRecord
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.registry import RequestContext
from kraft.raft.types import LeaderAndEpoch

CTX = ControllerContext(config=KafkaConfig({}), cluster_id="c")
LISTENERS = (RegisteredListener("CONTROLLER", "ctl1", 9093),
             RegisteredListener("SECURE", "ctl1", 9094, "SASL_SSL"))


def _manager(send: Any, node_id: int = 1) -> ControllerRegistrationManager:
    return ControllerRegistrationManager(node_id, LISTENERS, SUPPORTED_FEATURES, send,
                                         incarnation_id=uuid.UUID(int=7))


def _registered(image: MetadataImage, request: Any) -> MetadataImage:
    result = registrations.register_controller(image, request, 0, CTX)
    assert result.response.error_code == ErrorCode.none
    return apply_records(image, result.records)


def test_registration_records_listeners_and_features() -> None:
    """The command writes one RegisterControllerRecord with the request's id,
    incarnation, listeners (Kafka's protocol ids) and features, zk_migration_ready
    false, and the image's controller table holds it."""
    request = _manager(None).request()
    result = registrations.register_controller(EMPTY, request, 0, CTX)
    (record,) = result.records
    assert record == RegisterControllerRecord(
        controller_id=1, incarnation_id=uuid.UUID(int=7), zk_migration_ready=False,
        endpoints=(BrokerEndpoint(name="CONTROLLER", host="ctl1", port=9093,
                                  security_protocol=0),
                   BrokerEndpoint(name="SECURE", host="ctl1", port=9094,
                                  security_protocol=3)),
        features=record.features)
    assert {(f.name, f.min_supported_version, f.max_supported_version)
            for f in record.features} == {(f.name, f.min_version, f.max_version)
                                          for f in SUPPORTED_FEATURES}
    image = apply_records(EMPTY, result.records)
    assert image.cluster.controllers[1].to_record() == record


def _update(image: MetadataImage) -> Any:
    return SimpleNamespace(image=image)


async def test_manager_retries_until_the_log_holds_its_registration(
        autojump_clock: trio.testing.MockClock) -> None:
    """Refusals and missing answers are retried with a growing backoff; an
    acknowledged registration is sent again while the log does not show it; once
    the log holds this incarnation nothing more is sent, and another incarnation
    in the log (the registration replaced) makes it register again."""
    answers = [None, ErrorCode.not_controller, ErrorCode.none, ErrorCode.none]
    sent: list[tuple[float, Any]] = []
    image = EMPTY

    async def send(request: Any, timeout_s: float) -> Any:
        sent.append((trio.current_time(), request))
        code = answers.pop(0) if answers else ErrorCode.none
        return None if code is None else registrations.registration_response(0, code, None)

    manager = _manager(send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(manager.run)
        while len(sent) < 4:
            await trio.sleep(0.01)
        assert not manager.registered.is_set()
        image = _registered(image, sent[-1][1])
        manager.publish(_update(image))
        assert manager.registered.is_set()
        await trio.sleep(60)
        assert len(sent) == 4
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
        assert 0.09 < gaps[0] < gaps[1]  # backoff after each failure, growing
        other = _manager(None)
        other.incarnation_id = uuid.UUID(int=8)
        manager.publish(_update(_registered(image, other.request())))
        assert not manager.registered_in_log
        await trio.sleep(1)
        assert len(sent) == 5 and sent[-1][1].incarnation_id == uuid.UUID(int=7)
        nursery.cancel_scope.cancel()


async def test_a_new_leader_ends_the_backoff(autojump_clock: trio.testing.MockClock) -> None:
    """After failures with no leader known, the backoff has grown; a leader becoming
    known makes the manager send at once instead of waiting it out."""
    sent: list[float] = []

    async def send(request: Any, timeout_s: float) -> Any:
        sent.append(trio.current_time())
        await trio.sleep(timeout_s)  # the channel waited for a leader in vain
        return None

    manager = _manager(send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(manager.run)
        while len(sent) < 8:
            await trio.sleep(1)
        assert manager.backoff_s() > 10
        before = len(sent)
        await trio.sleep(6)  # the last send gave up: the manager is backing off
        assert len(sent) == before
        manager.leader_changed(LeaderAndEpoch(2, 5))
        await trio.sleep(0.01)
        assert len(sent) == before + 1
        nursery.cancel_scope.cancel()


def _controller(image: MetadataImage, leader: int | None) -> Any:
    return SimpleNamespace(cluster_id="c", committed_image=image, config=KafkaConfig({}),
                           raft=SimpleNamespace(leader=SimpleNamespace(leader_id=leader)))


def _describe(controller: Any, endpoint_type: int, listener: str = "CONTROLLER",
              version: int = 1) -> Any:
    request = DescribeClusterRequest(include_cluster_authorized_operations=False,
                                     endpoint_type=i8(endpoint_type))
    return describe_cluster.describe_controllers(
        controller, RequestContext("peer", listener),
        RequestHeader(int(ApiKey.DESCRIBE_CLUSTER), version, 1, "t"), request)


def test_describe_cluster_lists_registered_controllers_on_the_listener() -> None:
    """Endpoint type 2: every registered controller with an endpoint on the request's
    listener, and the leader as controller id only when it is one of them."""
    image = EMPTY
    for node_id in (1, 2):
        image = _registered(image, _manager(None, node_id).request())
    image = _registered(image, ControllerRegistrationManager(
        3, (RegisteredListener("OTHER", "ctl3", 9193),), (), None).request())
    answer = _describe(_controller(image, 2), 2)
    assert answer.error_code == ErrorCode.none
    assert (answer.cluster_id, answer.controller_id, answer.endpoint_type) == ("c", 2, 2)
    assert [(b.broker_id, b.host, b.port) for b in answer.brokers] == [
        (1, "ctl1", 9093), (2, "ctl1", 9093)]
    assert [b.broker_id for b in _describe(_controller(image, 2), 2, "OTHER").brokers] == [3]
    assert _describe(_controller(image, 3), 2).controller_id == -1  # not on this listener
    assert _describe(_controller(image, None), 2).controller_id == -1
    assert _describe(_controller(EMPTY, 1), 2).brokers == ()


def test_describe_cluster_refuses_other_endpoint_types_as_kafka() -> None:
    """Brokers asked of a controller: MISMATCHED_ENDPOINT_TYPE (INVALID_REQUEST for v0,
    which can ask only for brokers); an unknown type: UNSUPPORTED_ENDPOINT_TYPE; Kafka's
    messages and the response's defaults."""
    controller = _controller(_registered(EMPTY, _manager(None).request()), 1)
    mismatched = _describe(controller, 1, version=2)
    assert (mismatched.error_code, mismatched.error_message) == (
        ErrorCode.mismatched_endpoint_type,
        "The request was sent to an endpoint of type CONTROLLER, but we wanted an endpoint "
        "of type BROKER")
    unknown = _describe(controller, 9)
    assert (unknown.error_code, unknown.error_message) == (
        ErrorCode.unsupported_endpoint_type, "Unsupported endpoint type 9")
    from kio.schema.describe_cluster.v0.request import DescribeClusterRequest as V0

    v0 = describe_cluster.describe_controllers(
        controller, RequestContext("peer", "CONTROLLER"),
        RequestHeader(int(ApiKey.DESCRIBE_CLUSTER), 0, 1, "t"),
        V0(include_cluster_authorized_operations=False))
    assert (v0.error_code, v0.error_message) == (ErrorCode.invalid_request,
                                                 mismatched.error_message)
    for answer in (mismatched, unknown):
        assert (answer.cluster_id, answer.controller_id, answer.endpoint_type,
                answer.brokers) == ("", -1, 1, ())
