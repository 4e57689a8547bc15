"""The API tables are derived from one declaration per API and agree.

Client APIs are declared by their handler modules (kraft/broker/handlers),
controller-bound APIs by kraft/controller/apis. From them come the broker's
client registry (with the forwarded APIs), the controller listener's registry
(with the raft driver's RPCs) and both ApiVersions answers. A new forwarded
API is one module, picked up by every table.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

import kraft.controller.apis as controller_apis
from kraft.broker import forwarding, handlers
from kraft.broker.controller_channel import ControllerChannel
from kraft.broker.metadata_cache import MetadataCache
from kraft.broker.server import BrokerServer
from kraft.config import KafkaConfig
from kraft.controller.apis import SERVED_BY_RAFT, ControllerApi
from kraft.controller.quorum_controller import QuorumController
from kraft.metadata.loader import MetadataLoader
from kraft.net import api_versions, sasl
from kraft.net.api_keys import ApiKey
from kraft.net.client import KafkaClient
from kraft.net.codec import RequestHeader, encode_response, request_type
from kraft.net.registry import ApiRegistry, ApiSpec, RequestContext
from kraft.net.server import KafkaServer
from kraft.node import controller_registry
from kraft.raft.config import QuorumConfig
from kraft.raft.disk_log import DiskLog
from kraft.raft.driver import RaftNode
from kraft.raft.types import LeaderAndEpoch

RAFT_RPCS = {ApiKey.FETCH, ApiKey.VOTE, ApiKey.BEGIN_QUORUM_EPOCH, ApiKey.END_QUORUM_EPOCH,
             ApiKey.FETCH_SNAPSHOT, ApiKey.DESCRIBE_QUORUM, ApiKey.ADD_RAFT_VOTER,
             ApiKey.REMOVE_RAFT_VOTER, ApiKey.UPDATE_RAFT_VOTER}
Ranges = dict[int, tuple[int, int]]


def advertised(registry: ApiRegistry) -> Ranges:
    """What the registry's ApiVersions answer lists: key -> (min, max)."""
    response = api_versions.build_response(registry, api_versions.MAX_VERSION)
    return {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}


def declared(spec: ApiSpec) -> tuple[int, int]:
    lo = spec.min_version if spec.advertised_min is None else spec.advertised_min
    return lo, spec.max_version


# Served by the net layer on every listener: ApiVersions and the SASL APIs (kraft.net.sasl).
API_VERSIONS_RANGE = {ApiKey.API_VERSIONS: (api_versions.MIN_VERSION, api_versions.MAX_VERSION),
                      ApiKey.SASL_HANDSHAKE: declared(sasl.HANDSHAKE),
                      ApiKey.SASL_AUTHENTICATE: declared(sasl.AUTHENTICATE)}


async def _never() -> LeaderAndEpoch:
    await trio.sleep_forever()
    raise AssertionError


def broker_server(root: Path) -> BrokerServer:
    config = KafkaConfig({"node.id": "1", "process.roles": "broker",
                          "log.dirs": str(root / "data")})
    (root / "data").mkdir(parents=True, exist_ok=True)
    channel = ControllerChannel(KafkaClient(), {}, lambda: LeaderAndEpoch(None, 0), _never,
                                node_id=1)
    return BrokerServer(config, "cluster", channel, [], lambda: -1)


def raft_and_controller(root: Path) -> tuple[RaftNode, QuorumController, DiskLog]:
    config = KafkaConfig({"node.id": "1", "metadata.max.idle.interval.ms": "0"})
    raft_log = DiskLog(root / "metadata")
    holder: list[RaftNode] = []
    loader = MetadataLoader(raft_log, lambda: holder[0].high_watermark, 1)
    raft = RaftNode(QuorumConfig(node_id=1, voters=(1,), append_linger_ms=1), raft_log,
                    raft_log.dir, {}, loader, rng=random.Random(1))
    holder.append(raft)
    controller = QuorumController(config, "cluster", raft, rng=random.Random(1))
    loader.add_publisher(controller)
    return raft, controller, raft_log


@pytest.fixture
def tables(tmp_path: Path) -> Iterator[tuple[ApiRegistry, ApiRegistry]]:
    """(the broker's client registry, the controller listener's registry)."""
    raft, controller, raft_log = raft_and_controller(tmp_path)
    try:
        yield broker_server(tmp_path).registry, controller_registry(raft, controller)
    finally:
        raft_log.close()


def test_every_forwarded_api_is_served_by_the_controller_with_the_same_versions(
    tables: tuple[ApiRegistry, ApiRegistry],
) -> None:
    """The broker forwards exactly the versions the controller listener serves."""
    broker, controller = tables
    forwarded = controller_apis.forwarded()
    assert forwarded
    for api in forwarded:
        key = api.spec.key
        b, c = broker.get(key), controller.get(key)
        assert b is not None and c is not None, key.name
        assert (b.min_version, b.max_version) == (c.min_version, c.max_version), key.name
        assert (b.min_version, b.max_version) == (api.spec.min_version, api.spec.max_version)


def test_broker_api_versions_lists_exactly_the_declared_ranges(
    tables: tuple[ApiRegistry, ApiRegistry],
) -> None:
    """The broker advertises its handler modules, the forwarded APIs and ApiVersions,
    each with its declared range, and nothing else."""
    broker, _ = tables
    expected = {spec.key: declared(spec) for spec in handlers.APIS}
    expected |= {api.spec.key: declared(api.spec) for api in controller_apis.forwarded()}
    assert advertised(broker) == expected | API_VERSIONS_RANGE


def test_controller_api_versions_lists_exactly_the_declared_ranges(
    tables: tuple[ApiRegistry, ApiRegistry],
) -> None:
    """The controller listener advertises every controller-bound declaration with its
    range (DescribeQuorum through the raft driver), the other raft RPCs and ApiVersions."""
    _, controller = tables
    listed = advertised(controller)
    declarations = controller_apis.declarations()
    for api in declarations:
        assert listed.get(api.spec.key) == declared(api.spec), api.spec.key.name
    rest = set(listed) - {api.spec.key for api in declarations} - set(API_VERSIONS_RANGE)
    assert rest == RAFT_RPCS - {api.spec.key for api in declarations}
    assert listed[ApiKey.API_VERSIONS] == API_VERSIONS_RANGE[ApiKey.API_VERSIONS]


def test_served_by_raft_means_the_raft_driver_registers_it(
    tables: tuple[ApiRegistry, ApiRegistry],
) -> None:
    """Declarations without a controller command are exactly raft RPCs."""
    for api in controller_apis.declarations():
        assert (api.command is SERVED_BY_RAFT) == (api.spec.key in RAFT_RPCS), api.spec.key.name


def test_no_api_is_both_a_broker_handler_and_forwarded() -> None:
    """A key is answered by one thing on the broker (a double registration raises)."""
    handled = {spec.key for spec in handlers.APIS}
    assert not handled & {api.spec.key for api in controller_apis.forwarded()}


def test_every_handler_module_is_declared_once_with_its_coordinators() -> None:
    """APIS and the handler modules match one to one, and an API is listed in
    COORDINATED with exactly the coordinators its handler uses (they must run
    before its first request: kraft.broker.coordinators)."""
    found = handlers.modules()
    assert [m.__name__ for m in found] == [handlers.module_name(s.key) for s in handlers.APIS]
    for spec, module in zip(handlers.APIS, found, strict=True):
        source = Path(module.__file__ or "").read_text()
        used = tuple(name for name in ("group", "txn") if f"{name}_coordinator" in source)
        assert handlers.COORDINATED.get(spec.key, ()) == used, spec.key.name


def _versions() -> list[tuple[ControllerApi, int]]:
    return [(api, v) for api in controller_apis.declarations()
            for v in range(api.spec.min_version, api.spec.max_version + 1)]


def _error_codes(entity: Any) -> list[ErrorCode]:
    found = []
    for field in dataclasses.fields(entity):
        value = getattr(entity, field.name)
        if field.name == "error_code":
            found.append(value)
        elif isinstance(value, tuple):
            found += [c for item in value if dataclasses.is_dataclass(item)
                      for c in _error_codes(item)]
    return found


@pytest.mark.parametrize(("api", "version"), _versions(),
                         ids=lambda x: x.spec.key.name if isinstance(x, ControllerApi) else x)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_error_shape_answers_every_item_with_the_code(
    api: ControllerApi, version: int, data: st.DataObject
) -> None:
    """The declared error response of each version encodes, every error code in it is
    the one given, and it covers the whole request: a top-level error, or one entry
    per item of each of the request's lists."""
    request = data.draw(st.from_type(request_type(api.spec.key, version)))
    response = api.error_response(version, request, ErrorCode.request_timed_out, "m")
    encode_response(7, response)
    assert set(_error_codes(response)) <= {ErrorCode.request_timed_out}
    if api.spec.key == ApiKey.ALTER_USER_SCRAM_CREDENTIALS:
        # Kafka answers per user, whatever the number of alterations of each.
        users = {a.name for a in (*request.deletions, *request.upsertions)}
        assert {r.user for r in response.results} == users
    elif getattr(response, "error_code", None) != ErrorCode.request_timed_out:
        answered = {len(v) for v in _lists(response)}
        assert all(len(items) in answered for items in _lists(request) if items)


def _lists(entity: Any) -> list[tuple[Any, ...]]:
    return [v for f in dataclasses.fields(entity)
            if isinstance(v := getattr(entity, f.name), tuple)]


# --- a new forwarded API: one module --------------------------------------------------------

NEW_API = textwrap.dedent('''
    """AlterClientQuotas (49), versions 0-1: a test's forwarded API."""
    from datetime import timedelta

    from kio.schema.errors import ErrorCode

    from kraft.controller.apis import ControllerApi, Forwarded
    from kraft.controller.result import ControllerResult
    from kraft.metadata.records import NoOpRecord
    from kraft.net.api_keys import ApiKey
    from kraft.net.codec import response_type
    from kraft.net.messages import build, nested
    from kraft.net.registry import ApiSpec


    def _answer(version, request, code, message):
        cls = response_type(ApiKey.ALTER_CLIENT_QUOTAS, version)
        entry = nested(cls, "EntryData")
        return build(cls, throttle_time=timedelta(0), entries=tuple(
            build(entry, error_code=code, error_message=message, entity=e.entity)
            for e in request.entries))


    def _command(image, request, version, ctx):
        return ControllerResult((NoOpRecord(),), _answer(version, request, ErrorCode.none,
                                                         f"at {ctx.next_offset}"))


    API = ControllerApi(
        ApiSpec(ApiKey.ALTER_CLIENT_QUOTAS, 0, 1),
        command=_command,
        error_response=_answer,
        forwarded=Forwarded(),
    )
''')


@pytest.fixture
def new_api_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """AlterClientQuotas declared by one module dropped into kraft/controller/apis."""
    folder = tmp_path / "more_apis"
    folder.mkdir()
    (folder / "alter_client_quotas.py").write_text(NEW_API)
    monkeypatch.setattr(controller_apis, "__path__", [*controller_apis.__path__, str(folder)])
    name = f"{controller_apis.__name__}.alter_client_quotas"
    yield name
    sys.modules.pop(name, None)


@asynccontextmanager
async def active_controller(root: Path) -> AsyncIterator[tuple[ApiRegistry, tuple[str, int],
                                                               RaftNode]]:
    """A one-voter controller serving its listener registry on a free port."""
    raft, controller, raft_log = raft_and_controller(root)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(raft.run)
            await nursery.start(controller.run)
            with trio.fail_after(10):
                await controller.activated.wait()
            registry = controller_registry(raft, controller)
            bound = await nursery.start(KafkaServer(registry, listener_name="CONTROLLER").serve,
                                        "127.0.0.1", 0)
            yield registry, bound[0], raft
            nursery.cancel_scope.cancel()
    finally:
        raft_log.close()


async def test_a_new_forwarded_api_is_picked_up_from_its_module_alone(
    tmp_path: Path, new_api_module: str
) -> None:
    """A module declaring AlterClientQuotas is served by the controller listener,
    forwarded by brokers, advertised by both, and a request through a broker's
    forward handler reaches its command on the active controller."""
    assert ApiKey.ALTER_CLIENT_QUOTAS in {a.spec.key for a in controller_apis.forwarded()}
    assert advertised(broker_server(tmp_path / "b").registry)[ApiKey.ALTER_CLIENT_QUOTAS] == (0, 1)
    async with active_controller(tmp_path / "c") as (registry, address, raft), \
            KafkaClient("test") as client:
        assert advertised(registry)[ApiKey.ALTER_CLIENT_QUOTAS] == (0, 1)
        channel = ControllerChannel(client, {1: address}, lambda: raft.leader,
                                    raft.wait_leader_change, node_id=1)
        broker = ApiRegistry()
        forwarding.register(broker, channel, MetadataCache())
        entry = broker.get(ApiKey.ALTER_CLIENT_QUOTAS)
        assert entry is not None
        cls = request_type(ApiKey.ALTER_CLIENT_QUOTAS, 1)
        module = sys.modules[cls.__module__]
        request = cls(entries=(module.EntryData(entity=(
            module.EntityData(entity_type="client-id", entity_name="c"),), ops=()),),
            validate_only=False)
        with trio.fail_after(10):
            response = await entry.handler(RequestContext("test", "PLAINTEXT"),
                                           RequestHeader(49, 1, 1, "test"), request)
        [answer] = response.entries
        assert answer.error_code == ErrorCode.none
        assert answer.error_message.startswith("at ")
