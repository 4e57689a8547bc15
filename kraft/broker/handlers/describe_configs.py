"""DescribeConfigs (key 32), versions 1-4: topic, broker and group configs with their
sources, answered from the broker's config and image; the answer is
kraft.describe_configs, shared with the controller listener
(kraft/controller/apis/describe_configs.py)."""

from __future__ import annotations

from typing import Any

from kraft.broker.context import BrokerContext
from kraft.describe_configs import describe_configs
from kraft.net.codec import RequestHeader
from kraft.net.messages import response_class
from kraft.net.registry import RequestContext


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    return describe_configs(broker.config, broker.image, broker.access, ctx,
                            response_class(header), request)
