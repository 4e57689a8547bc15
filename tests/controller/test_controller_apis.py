"""Every forwarded API runs at most once per request identity, on both ends:
brokers relay each with ControllerChannel.forward (never the repeating `send`),
and the controller listener answers a copy carrying the same identity with
the first execution's answer (kraft.controller.apis, .recent_results)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

import kraft.controller.apis as controller_apis
from kraft.broker import forwarding
from kraft.broker.metadata_cache import MetadataCache
from kraft.controller.apis import ControllerApi, ServedByRaft
from kraft.controller.recent_results import RecentResults, forward_client_id
from kraft.net.codec import RequestHeader, request_type
from kraft.net.registry import ApiRegistry, RequestContext

CTX = RequestContext("test", "CONTROLLER")
FORWARDED = [api for api in controller_apis.forwarded()]
COMMANDED = [api for api in FORWARDED if not isinstance(api.command, ServedByRaft)]


def _name(api: ControllerApi) -> str:
    return api.spec.key.name


class CountingController:
    """Runs nothing; counts commands and answers each with a fresh marker."""

    active_epoch = 1
    heartbeats = None

    def __init__(self) -> None:
        self.runs = 0

    async def run_command(self, command: Any, not_controller: Any, *, unknown: Any) -> Any:
        self.runs += 1
        return f"answer {self.runs}"


def request_of(api: ControllerApi, data: st.DataObject) -> Any:
    return data.draw(st.from_type(request_type(api.spec.key, api.spec.max_version)))


@pytest.mark.parametrize("api", COMMANDED, ids=_name)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_a_copy_of_a_forwarded_request_runs_once(api: ControllerApi,
                                                       data: st.DataObject) -> None:
    """The same identity twice runs the command once and answers both alike; another
    identity, or none, runs it again."""
    controller = CountingController()
    results = RecentResults(controller)
    request = request_of(api, data)
    handle = partial(controller_apis._handle, controller, results, api, CTX)  # type: ignore[arg-type]

    def header(client_id: str) -> RequestHeader:
        return RequestHeader(api.spec.key, api.spec.max_version, 1, client_id)

    first = await handle(header(forward_client_id(1, "ab", 1)), request)
    copy = await handle(header(forward_client_id(1, "ab", 1)), request)
    assert (first, copy, controller.runs) == ("answer 1", "answer 1", 1)
    assert await handle(header(forward_client_id(1, "ab", 2)), request) == "answer 2"
    assert await handle(header("kraft-node-1"), request) == "answer 3"
    assert await handle(header("kraft-node-1"), request) == "answer 4"


class ForwardOnlyChannel:
    """Records forwarded requests; the repeating `send` must not be used for them."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.forwarded: list[Any] = []

    async def forward(self, request: Any, timeout_s: float) -> Any:
        self.forwarded.append(request)
        return self.answer

    async def send(self, request: Any, timeout_s: float) -> Any:
        raise AssertionError("a client's request must not go through the repeating send")


@pytest.mark.parametrize("api", FORWARDED, ids=_name)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_brokers_relay_forwarded_apis_at_most_once(api: ControllerApi,
                                                         data: st.DataObject) -> None:
    """A broker's handler for each forwarded API relays the request once with
    `forward` and returns the controller's answer (here an error for every item,
    so there is nothing to wait for in the broker's image)."""
    request = request_of(api, data)
    version = api.spec.max_version
    answer = api.error_response(version, request, ErrorCode.invalid_request, None)
    channel = ForwardOnlyChannel(answer)
    registry = ApiRegistry()
    forwarding.register(registry, channel, MetadataCache())  # type: ignore[arg-type]
    entry = registry.get(api.spec.key)
    assert entry is not None
    response = await entry.handler(CTX, RequestHeader(api.spec.key, version, 1, "c"), request)
    assert response is answer
    assert channel.forwarded == [request]
