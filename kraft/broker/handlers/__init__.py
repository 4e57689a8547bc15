"""The broker's client-facing APIs: one module per API (kfake's layout).

Each module of this package opens with its declaration, `API = ApiSpec(...)`
(the API's key by name, the versions it decodes, and for Produce a lower
advertised minimum), notes on behaviour and on what is deliberately not done,
and an `async handle(broker, ctx, header, request)` returning the kio
response (or None for no response). `broker` is the BrokerContext
(kraft.broker.context): the typed parts of the broker a handler may use.

`register` finds every module here (`modules()`; adding a broker API is
adding its module) and puts it on the client listeners' registry, together
with ApiVersions (computed from the registry, so it advertises exactly what
is served) and the admin APIs the broker forwards to the controller, which
are declared in kraft/controller/apis and relayed by kraft.broker.forwarding.
A key registered twice is an error (kraft.net.registry).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import partial
from types import ModuleType

from kraft.broker import forwarding
from kraft.broker.context import BrokerContext
from kraft.controller.quorum_controller import METADATA_VERSION_LEVEL
from kraft.metadata.records import (
    METADATA_VERSION,
    TRANSACTION_VERSION,
    TRANSACTION_VERSION_LEVEL,
)
from kraft.net import api_versions, sasl
from kraft.net.registry import ApiRegistry, ApiSpec

__all__ = ["modules", "register"]


def modules() -> tuple[ModuleType, ...]:
    """Every handler module of this package, by api key.

    Raises TypeError for a module without an ApiSpec `API` and a `handle`."""
    found = []
    for info in pkgutil.iter_modules(__path__, f"{__name__}."):
        module = importlib.import_module(info.name)
        if not isinstance(getattr(module, "API", None), ApiSpec) or not callable(
            getattr(module, "handle", None)
        ):
            raise TypeError(f"{info.name} declares no ApiSpec `API` with a `handle`")
        found.append(module)
    return tuple(sorted(found, key=lambda module: int(module.API.key)))


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
    for module in modules():
        registry.add(module.API, partial(module.handle, broker))
    forwarding.register(registry, broker.channel, broker.metadata, broker.access,
                        broker.node_id)
