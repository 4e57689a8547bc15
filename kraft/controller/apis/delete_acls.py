"""DeleteAcls (31), versions 1-3: forwarded by brokers; kraft.controller.acls.delete_acls.

Error shape: every filter gets the code. The broker answers once none of the
deleted ACLs is left in its own image.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kraft.controller import acls
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.registry import ApiSpec


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    gone = {(m.resource_type, m.resource_name, m.pattern_type, m.principal, m.host,
             m.operation, m.permission_type)
            for r in response.filter_results for m in r.matching_acls}
    return partial(_gone, gone) if gone else None


def _gone(gone: set[tuple[Any, ...]], image: MetadataImage) -> bool:
    return not any((a.resource_type, a.resource_name, a.pattern_type, a.principal, a.host,
                    a.operation, a.permission_type) in gone for a in image.acls.acls.values())


API = ControllerApi(
    ApiSpec(ApiKey.DELETE_ACLS, 1, 3),
    command=acls.delete_acls,
    error_response=acls.delete_error_response,
    forwarded=Forwarded(visible=_visible),
)
