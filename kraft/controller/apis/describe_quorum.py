"""DescribeQuorum (55), versions 0-2: forwarded by brokers (KIP-836: admin tools may
ask any broker); answered on the controller listener by the raft driver
(kraft.raft.driver.RaftNode.register), not by a controller command.

Error shape: the top-level error (v2 adds its message), no partitions or nodes.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller.apis import SERVED_BY_RAFT, ControllerApi, Forwarded
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.DESCRIBE_QUORUM, version)
    return build(cls, error_code=code, error_message=message, topics=(), nodes=())


API = ControllerApi(
    ApiSpec(ApiKey.DESCRIBE_QUORUM, 0, 2),
    command=SERVED_BY_RAFT,
    error_response=_error_response,
    forwarded=Forwarded(),
)
