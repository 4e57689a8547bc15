"""CreateAcls and DeleteAcls on the controller (Kafka's AclControlManager).

- Without an authorizer (authorizer.class.name empty) both answer
  SECURITY_DISABLED, as Kafka does: there would be nothing to enforce them.
- CreateAcls: each creation is checked (kraft.security.acl.validate_binding;
  INVALID_REQUEST with Kafka's message); an ACL identical to an existing one
  (or to an earlier creation of the same request) succeeds without a new
  record; otherwise an AccessControlEntryRecord with a fresh id.
- DeleteAcls: each filter (INVALID_REQUEST for UNKNOWN values) lists the ACLs
  it matches, each removed with a RemoveAccessControlEntryRecord; an ACL that
  several filters match is removed once and listed under the first.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import AclEntry, MetadataImage
from kraft.metadata.records import (
    AccessControlEntryRecord,
    MetadataRecord,
    RemoveAccessControlEntryRecord,
)
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.security.acl import AclBinding, AclFilter, validate_binding

__all__ = ["create_acls", "create_error_response", "delete_acls", "delete_error_response"]

NO_AUTHORIZER: Final = "No Authorizer is configured."


def _binding(acl: AclEntry) -> AclBinding:
    return AclBinding(acl.resource_type, acl.resource_name, acl.pattern_type, acl.principal,
                      acl.host, acl.operation, acl.permission_type)


def create_error_response(version: int, request: Any, code: ErrorCode,
                          message: str | None) -> Any:
    cls = response_type(ApiKey.CREATE_ACLS, version)
    item = nested(cls, "AclCreationResult")
    return build(cls, throttle_time=timedelta(0), results=tuple(
        build(item, error_code=code, error_message=message) for _ in request.creations))


def delete_error_response(version: int, request: Any, code: ErrorCode,
                          message: str | None) -> Any:
    cls = response_type(ApiKey.DELETE_ACLS, version)
    item = nested(cls, "DeleteAclsFilterResult")
    return build(cls, throttle_time=timedelta(0), filter_results=tuple(
        build(item, error_code=code, error_message=message, matching_acls=())
        for _ in request.filters))


def create_acls(image: MetadataImage, request: Any, version: int,
                ctx: ControllerContext) -> ControllerResult[Any]:
    if not ctx.config["authorizer.class.name"]:
        return ControllerResult((), create_error_response(
            version, request, ErrorCode.security_disabled, NO_AUTHORIZER))
    cls = response_type(ApiKey.CREATE_ACLS, version)
    item = nested(cls, "AclCreationResult")
    existing = {_binding(acl) for acl in image.acls.acls.values()}
    records: list[MetadataRecord] = []
    results = []
    for c in request.creations:
        binding = AclBinding(int(c.resource_type), c.resource_name,
                             int(getattr(c, "resource_pattern_type", 3)), c.principal, c.host,
                             int(c.operation), int(c.permission_type))
        problem = validate_binding(binding)
        if problem is not None:
            results.append(build(item, error_code=ErrorCode.invalid_request,
                                 error_message=problem))
            continue
        if binding not in existing:
            existing.add(binding)
            records.append(AccessControlEntryRecord(
                id=uuid.UUID(int=ctx.rng.getrandbits(128)),
                resource_type=binding.resource_type, resource_name=binding.resource_name,
                pattern_type=binding.pattern_type, principal=binding.principal,
                host=binding.host, operation=binding.operation,
                permission_type=binding.permission_type))
        results.append(build(item, error_code=ErrorCode.none, error_message=None))
    return ControllerResult(tuple(records), build(cls, throttle_time=timedelta(0),
                                                  results=tuple(results)))


def delete_acls(image: MetadataImage, request: Any, version: int,
                ctx: ControllerContext) -> ControllerResult[Any]:
    if not ctx.config["authorizer.class.name"]:
        return ControllerResult((), delete_error_response(
            version, request, ErrorCode.security_disabled, NO_AUTHORIZER))
    cls = response_type(ApiKey.DELETE_ACLS, version)
    result = nested(cls, "DeleteAclsFilterResult")
    matching = nested(cls, "DeleteAclsMatchingAcl")
    removed: set[uuid.UUID] = set()
    records: list[MetadataRecord] = []
    results = []
    for f in request.filters:
        acl_filter = AclFilter(int(f.resource_type_filter), f.resource_name_filter,
                               int(getattr(f, "pattern_type_filter", 3)), f.principal_filter,
                               f.host_filter, int(f.operation), int(f.permission_type))
        if not acl_filter.is_valid():
            results.append(build(result, error_code=ErrorCode.invalid_request,
                                 error_message="Invalid ACL filter", matching_acls=()))
            continue
        matched = []
        for acl_id, acl in sorted(image.acls.acls.items()):
            if acl_id in removed or not acl_filter.matches(_binding(acl)):
                continue
            removed.add(acl_id)
            records.append(RemoveAccessControlEntryRecord(id=acl_id))
            matched.append(build(
                matching, error_code=ErrorCode.none, error_message=None,
                resource_type=acl.resource_type, resource_name=acl.resource_name,
                pattern_type=acl.pattern_type, principal=acl.principal, host=acl.host,
                operation=acl.operation, permission_type=acl.permission_type))
        results.append(build(result, error_code=ErrorCode.none, error_message=None,
                             matching_acls=tuple(matched)))
    return ControllerResult(tuple(records), build(cls, throttle_time=timedelta(0),
                                                  filter_results=tuple(results)))
