"""CreateAcls (30), versions 1-3: forwarded by brokers; kraft.controller.acls.create_acls.

Error shape: every creation gets the code. The broker answers once its own
image holds every ACL the request created, so it is enforced there at once.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import acls
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.registry import ApiSpec
from kraft.security.acl import AclBinding


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    wanted = {AclBinding(int(c.resource_type), c.resource_name,
                         int(getattr(c, "resource_pattern_type", 3)), c.principal, c.host,
                         int(c.operation), int(c.permission_type))
              for c, r in zip(request.creations, response.results, strict=True)
              if r.error_code == ErrorCode.none}
    return partial(_has, wanted) if wanted else None


def _has(wanted: set[AclBinding], image: MetadataImage) -> bool:
    have = {AclBinding(a.resource_type, a.resource_name, a.pattern_type, a.principal, a.host,
                       a.operation, a.permission_type) for a in image.acls.acls.values()}
    return wanted <= have


API = ControllerApi(
    ApiSpec(ApiKey.CREATE_ACLS, 1, 3),
    command=acls.create_acls,
    error_response=acls.create_error_response,
    forwarded=Forwarded(visible=_visible),
)
