"""DescribeAcls (key 29), versions 1-3: the ACLs of a node's image that match a filter.

One answer for both listeners: a broker answers it from its metadata image
(kraft/broker/handlers/describe_acls.py), a controller from its committed
image (kraft/controller/apis/describe_acls.py, for `kafka-acls
--bootstrap-controller`), as Kafka's AclApis serves both.

Without an authorizer (authorizer.class.name empty) Kafka answers
SECURITY_DISABLED with "No Authorizer is configured on the broker" (the same
words on a controller), so admin clients and `kafka-acls.sh` get that clear
answer instead of an unsupported API.

With StandardAuthorizer: DESCRIBE on the cluster, else
CLUSTER_AUTHORIZATION_FAILED; a filter with UNKNOWN values is INVALID_REQUEST
("Invalid ACL filter"); otherwise every ACL the filter matches
(kraft.security.acl.AclFilter: ANY, null names, MATCH), grouped by resource
pattern (an ACL created through the controller is listed once the node has
replayed its record). CreateAcls and DeleteAcls: kraft/controller/apis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.metadata.image import AclsImage
from kraft.net.messages import build, nested
from kraft.net.registry import RequestContext
from kraft.security.access import Access
from kraft.security.acl import AclBinding, AclFilter, AclOperation

__all__ = ["NO_AUTHORIZER_ON_BROKER", "describe_acls"]

NO_AUTHORIZER_ON_BROKER: Final = "No Authorizer is configured on the broker"


def describe_acls(access: Access, acls: AclsImage, ctx: RequestContext, cls: type,
                  request: Any) -> Any:
    """The DescribeAcls response of class `cls` (the request's version) to `request`
    from `ctx`'s principal, from `acls` (module docstring)."""

    def error(code: ErrorCode, message: str | None) -> Any:
        return build(cls, throttle_time=timedelta(0), error_code=code, error_message=message,
                     resources=())

    if not access.enabled:
        return error(ErrorCode.security_disabled, NO_AUTHORIZER_ON_BROKER)
    if not access.cluster(ctx, AclOperation.DESCRIBE):
        return error(ErrorCode.cluster_authorization_failed, "Cluster authorization failed.")
    acl_filter = AclFilter(int(request.resource_type_filter), request.resource_name_filter,
                           int(getattr(request, "pattern_type_filter", 3)),
                           request.principal_filter, request.host_filter,
                           int(request.operation), int(request.permission_type))
    if not acl_filter.is_valid():
        return error(ErrorCode.invalid_request, "Invalid ACL filter")
    by_resource: dict[tuple[int, str, int], list[Any]] = {}
    description = nested(cls, "AclDescription")
    for acl in sorted(acls.acls.values(),
                      key=lambda a: (a.resource_type, a.resource_name, a.pattern_type,
                                     a.principal, a.host, a.operation, a.permission_type)):
        binding = AclBinding(acl.resource_type, acl.resource_name, acl.pattern_type,
                             acl.principal, acl.host, acl.operation, acl.permission_type)
        if acl_filter.matches(binding):
            by_resource.setdefault((acl.resource_type, acl.resource_name, acl.pattern_type),
                                   []).append(build(
                description, principal=acl.principal, host=acl.host,
                operation=acl.operation, permission_type=acl.permission_type))
    resource = nested(cls, "DescribeAclsResource")
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 error_message=None, resources=tuple(
                     build(resource, resource_type=rtype, resource_name=name, pattern_type=pat,
                           acls=tuple(acls))
                     for (rtype, name, pat), acls in by_resource.items()))
