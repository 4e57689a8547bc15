"""The broker's client-facing APIs: one module per API (kfake's layout).

`APIS` declares them, once each: the API's key by name, the versions it
decodes, and for Produce a lower advertised minimum. The API with key K is
answered by the module named after it (`ApiKey.PRODUCE` by `produce.py`),
which holds notes on behaviour and on what is deliberately not done, and an
`async handle(broker, ctx, header, request)` returning the kio response (or
None for no response). `broker` is the BrokerContext (kraft.broker.context):
the typed parts of the broker a handler may use. Adding a broker API is its
declaration here and its module.

`register` puts every declared API on the client listeners' registry,
together with ApiVersions (computed from the registry, so it advertises
exactly what is served) and the admin APIs the broker forwards to the
controller, which are declared in kraft/controller/apis and relayed by
kraft.broker.forwarding. A key registered twice is an error
(kraft.net.registry).

A handler module is imported on the first request of its API, not at start:
the declarations are all ApiVersions needs, and most nodes never see most
APIs (docs/design.md, "What is loaded at start-up"). The import happens in
the event loop's thread, synchronously, so two concurrent first requests
load the module once; `modules()` imports them all (tests, tools).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from kraft.broker import forwarding
from kraft.controller.quorum_controller import METADATA_VERSION_LEVEL
from kraft.metadata.records import (
    METADATA_VERSION,
    TRANSACTION_VERSION,
    TRANSACTION_VERSION_LEVEL,
)
from kraft.net import api_versions, sasl
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.registry import ApiRegistry, ApiSpec, RequestContext

if TYPE_CHECKING:
    from kraft.broker.context import BrokerContext

__all__ = ["APIS", "COORDINATED", "module_name", "modules", "register"]

APIS: Final = (
    ApiSpec(ApiKey.PRODUCE, 3, 13, advertised_min=0),
    ApiSpec(ApiKey.FETCH, 4, 17),
    ApiSpec(ApiKey.LIST_OFFSETS, 1, 11),
    ApiSpec(ApiKey.METADATA, 0, 13),
    ApiSpec(ApiKey.OFFSET_COMMIT, 2, 9),
    ApiSpec(ApiKey.OFFSET_FETCH, 1, 9),
    ApiSpec(ApiKey.FIND_COORDINATOR, 0, 6),
    ApiSpec(ApiKey.JOIN_GROUP, 0, 9),
    ApiSpec(ApiKey.HEARTBEAT, 0, 4),
    ApiSpec(ApiKey.LEAVE_GROUP, 0, 5),
    ApiSpec(ApiKey.SYNC_GROUP, 0, 5),
    ApiSpec(ApiKey.DESCRIBE_GROUPS, 0, 5),
    ApiSpec(ApiKey.LIST_GROUPS, 0, 5),
    ApiSpec(ApiKey.DELETE_RECORDS, 0, 2),
    ApiSpec(ApiKey.INIT_PRODUCER_ID, 0, 5),
    ApiSpec(ApiKey.OFFSET_FOR_LEADER_EPOCH, 2, 4),
    ApiSpec(ApiKey.ADD_PARTITIONS_TO_TXN, 0, 5),
    ApiSpec(ApiKey.ADD_OFFSETS_TO_TXN, 0, 4),
    ApiSpec(ApiKey.END_TXN, 0, 5),
    ApiSpec(ApiKey.WRITE_TXN_MARKERS, 1, 1),
    ApiSpec(ApiKey.TXN_OFFSET_COMMIT, 0, 5),
    ApiSpec(ApiKey.DESCRIBE_ACLS, 1, 3),
    ApiSpec(ApiKey.DESCRIBE_CONFIGS, 1, 4),
    ApiSpec(ApiKey.DESCRIBE_LOG_DIRS, 1, 5),
    ApiSpec(ApiKey.DELETE_GROUPS, 0, 2),
    ApiSpec(ApiKey.OFFSET_DELETE, 0, 0),
    ApiSpec(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0),
    ApiSpec(ApiKey.DESCRIBE_CLUSTER, 0, 2),
    ApiSpec(ApiKey.DESCRIBE_PRODUCERS, 0, 0),
    ApiSpec(ApiKey.DESCRIBE_TRANSACTIONS, 0, 0),
    ApiSpec(ApiKey.LIST_TRANSACTIONS, 0, 1),
    ApiSpec(ApiKey.DESCRIBE_TOPIC_PARTITIONS, 0, 0),
)
"""Every API a broker answers itself, in key order."""

COORDINATED: Final[dict[ApiKey, tuple[str, ...]]] = {
    ApiKey.PRODUCE: ("txn",),  # verifies transactional batches (KIP-890)
    ApiKey.OFFSET_COMMIT: ("group",),
    ApiKey.OFFSET_FETCH: ("group",),
    ApiKey.JOIN_GROUP: ("group",),
    ApiKey.HEARTBEAT: ("group",),
    ApiKey.LEAVE_GROUP: ("group",),
    ApiKey.SYNC_GROUP: ("group",),
    ApiKey.DESCRIBE_GROUPS: ("group",),
    ApiKey.LIST_GROUPS: ("group",),
    ApiKey.INIT_PRODUCER_ID: ("txn",),
    ApiKey.ADD_PARTITIONS_TO_TXN: ("txn",),
    ApiKey.ADD_OFFSETS_TO_TXN: ("txn",),
    ApiKey.END_TXN: ("txn",),
    ApiKey.WRITE_TXN_MARKERS: ("group",),
    ApiKey.TXN_OFFSET_COMMIT: ("group", "txn"),
    ApiKey.DELETE_GROUPS: ("group",),
    ApiKey.OFFSET_DELETE: ("group",),
    ApiKey.DESCRIBE_TRANSACTIONS: ("txn",),
    ApiKey.LIST_TRANSACTIONS: ("txn",),
}
"""The coordinators (BrokerContext.group, .txn) each API's handler uses: they run
before its first request is handled (kraft.broker.coordinators)."""


def module_name(key: ApiKey) -> str:
    """The module answering `key`."""
    return f"{__name__}.{key.name.lower()}"


def modules() -> tuple[ModuleType, ...]:
    """Every handler module, imported, in the order of `APIS`.

    Raises TypeError for a module without a `handle`, and for a module of
    this package no declaration names (or a declaration without its module)."""
    present = {info.name for info in pkgutil.iter_modules(__path__, f"{__name__}.")}
    declared = [module_name(spec.key) for spec in APIS]
    if set(declared) != present:
        raise TypeError(f"handler modules without a declaration in APIS: "
                        f"{sorted(present - set(declared))}; declarations without a "
                        f"module: {sorted(set(declared) - present)}")
    found = tuple(importlib.import_module(name) for name in declared)
    for module in found:
        if not callable(getattr(module, "handle", None)):
            raise TypeError(f"{module.__name__} has no `handle`")
    return found


class _OnFirstRequest:
    """The handler of one API: its module is imported on the first request
    (synchronously, so concurrent first requests import it once), and the
    coordinators it uses are running before it handles one (COORDINATED)."""

    def __init__(self, key: ApiKey, broker: BrokerContext) -> None:
        self._key = key
        self._broker = broker
        self._handle: Callable[..., Any] | None = None

    async def __call__(self, ctx: RequestContext, header: RequestHeader, request: Any) -> Any:
        handle = self._handle
        if handle is None:
            module = importlib.import_module(module_name(self._key))
            for name in COORDINATED.get(self._key, ()):
                await getattr(self._broker, name).start()
            handle = self._handle = module.handle
        return await handle(self._broker, ctx, header, request)


def register(registry: ApiRegistry, broker: BrokerContext) -> None:
    """Register ApiVersions, every handler module and the forwarded admin APIs."""

    def features() -> api_versions.Features:
        image = broker.image
        levels = image.features.levels
        return api_versions.Features(
            supported=((METADATA_VERSION, METADATA_VERSION_LEVEL, METADATA_VERSION_LEVEL),
                       (TRANSACTION_VERSION, 0, TRANSACTION_VERSION_LEVEL)),
            finalized_epoch=max(image.provenance.offset, -1),
            finalized=tuple((name, level, level) for name, level in sorted(levels.items())
                            if level),
        )

    api_versions.register(registry, features)
    sasl.register(registry)
    for spec in APIS:
        registry.add(spec, _OnFirstRequest(spec.key, broker))
    forwarding.register(registry, broker.channel, broker.metadata, broker.access,
                        broker.node_id)
