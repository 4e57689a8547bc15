"""StandardAuthorizer semantics over an ACL image, and the ACL controller commands."""

from __future__ import annotations

import uuid

from kio.schema.create_acls.v3.request import AclCreation, CreateAclsRequest
from kio.schema.delete_acls.v3.request import DeleteAclsFilter, DeleteAclsRequest
from kio.schema.errors import ErrorCode

from kraft.config import KafkaConfig
from kraft.controller.acls import create_acls, delete_acls
from kraft.controller.result import ControllerContext, apply_records
from kraft.metadata.image import EMPTY, AclEntry, AclsImage
from kraft.security.acl import AclOperation as Op
from kraft.security.acl import PatternType, PermissionType, ResourceType
from kraft.security.authorizer import Authorizer, parse_super_users

TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = PermissionType.ALLOW, PermissionType.DENY


def _authorizer(*acls: tuple, super_users: str = "", allow_if_none: bool = False) -> Authorizer:
    authorizer = Authorizer(parse_super_users(super_users), allow_if_none)
    authorizer.update(AclsImage({uuid.UUID(int=i): AclEntry(*acl)
                                 for i, acl in enumerate(acls)}))
    return authorizer


def test_prefixed_read_allows_matching_topics_only() -> None:
    """READ on a prefix allows READ (and the implied DESCRIBE) on names starting with it."""
    a = _authorizer((TOPIC, "orders-", PREFIXED, "User:alice", "*", Op.READ, ALLOW))
    assert a.authorize("User:alice", "1.2.3.4", Op.READ, TOPIC, "orders-eu")
    assert a.authorize("User:alice", "1.2.3.4", Op.DESCRIBE, TOPIC, "orders-eu")
    assert not a.authorize("User:alice", "1.2.3.4", Op.WRITE, TOPIC, "orders-eu")
    assert not a.authorize("User:alice", "1.2.3.4", Op.READ, TOPIC, "payments")
    assert not a.authorize("User:bob", "1.2.3.4", Op.READ, TOPIC, "orders-eu")


def test_deny_beats_allow() -> None:
    """A DENY that applies wins over any ALLOW, including a wildcard one."""
    a = _authorizer((TOPIC, "*", LITERAL, "User:*", "*", Op.ALL, ALLOW),
                    (TOPIC, "secret", LITERAL, "User:alice", "*", Op.READ, DENY))
    assert not a.authorize("User:alice", "h", Op.READ, TOPIC, "secret")
    assert a.authorize("User:alice", "h", Op.DESCRIBE, TOPIC, "secret")  # DENY READ only
    assert a.authorize("User:bob", "h", Op.READ, TOPIC, "secret")


def test_host_must_match() -> None:
    """An ACL for one host does not apply to connections from another."""
    a = _authorizer((GROUP, "g", LITERAL, "User:alice", "10.0.0.1", Op.READ, ALLOW))
    assert a.authorize("User:alice", "10.0.0.1", Op.READ, GROUP, "g")
    assert not a.authorize("User:alice", "10.0.0.2", Op.READ, GROUP, "g")


def test_super_users_and_no_acl_found() -> None:
    """Super users may do everything; allow.everyone.if.no.acl.found opens only
    resources that no ACL applies to."""
    a = _authorizer((TOPIC, "t", LITERAL, "User:alice", "*", Op.READ, ALLOW),
                    super_users="User:admin;User:broker", allow_if_none=True)
    assert a.authorize("User:broker", "h", Op.CLUSTER_ACTION, ResourceType.CLUSTER,
                       "kafka-cluster")
    assert a.authorize("User:bob", "h", Op.WRITE, TOPIC, "untouched")
    assert not a.authorize("User:bob", "h", Op.READ, TOPIC, "t")
    closed = _authorizer()
    assert not closed.authorize("User:bob", "h", Op.READ, TOPIC, "untouched")


def test_describe_configs_implied_by_alter_configs() -> None:
    """ALTER_CONFIGS implies DESCRIBE_CONFIGS (Kafka's implied operations)."""
    a = _authorizer((TOPIC, "t", LITERAL, "User:a", "*", Op.ALTER_CONFIGS, ALLOW))
    assert a.authorize("User:a", "h", Op.DESCRIBE_CONFIGS, TOPIC, "t")
    assert not a.authorize("User:a", "h", Op.ALTER, TOPIC, "t")


CTX = ControllerContext(KafkaConfig({"authorizer.class.name":
                                     "org.apache.kafka.metadata.authorizer.StandardAuthorizer"}),
                        "cluster")


def _creation(name: str, pattern: int = 3, principal: str = "User:alice",
              operation: int = 3) -> AclCreation:
    return AclCreation(resource_type=2, resource_name=name, resource_pattern_type=pattern,
                       principal=principal, host="*", operation=operation, permission_type=3)


def test_create_and_delete_acls_through_records() -> None:
    """CreateAcls writes one record per new ACL (duplicates none, invalid ones get
    INVALID_REQUEST); DeleteAcls removes what a filter matches."""
    request = CreateAclsRequest(creations=(
        _creation("orders"), _creation("orders"), _creation("*", pattern=4),
        _creation("x", principal="alice"), _creation("pay-", pattern=4)))
    result = create_acls(EMPTY, request, 3, CTX)
    codes = [r.error_code for r in result.response.results]
    assert codes == [ErrorCode.none, ErrorCode.none, ErrorCode.invalid_request,
                     ErrorCode.invalid_request, ErrorCode.none]
    image = apply_records(EMPTY, result.records)
    assert len(image.acls.acls) == 2
    again = create_acls(image, CreateAclsRequest(creations=(_creation("orders"),)), 3, CTX)
    assert again.records == ()
    match = DeleteAclsFilter(resource_type_filter=2, resource_name_filter="pay-eu",
                             pattern_type_filter=2, principal_filter=None, host_filter=None,
                             operation=1, permission_type=1)
    deleted = delete_acls(image, DeleteAclsRequest(filters=(match,)), 3, CTX)
    (matched,) = deleted.response.filter_results
    assert [m.resource_name for m in matched.matching_acls] == ["pay-"]
    after = apply_records(image, deleted.records)
    assert [a.resource_name for a in after.acls.acls.values()] == ["orders"]


def test_acl_apis_without_authorizer_are_security_disabled() -> None:
    """Without authorizer.class.name the controller answers SECURITY_DISABLED, as Kafka."""
    ctx = ControllerContext(KafkaConfig({}), "cluster")
    result = create_acls(EMPTY, CreateAclsRequest(creations=(_creation("t"),)), 3, ctx)
    assert result.records == ()
    assert result.response.results[0].error_code == ErrorCode.security_disabled


def test_indexed_prefixes_match_a_plain_scan() -> None:
    """The prefix index finds exactly the PREFIXED ACLs whose name starts a resource name
    (checked against a scan of every ACL, over seeded random names)."""
    import random

    rng = random.Random(16)
    names = ["".join(rng.choice("ab-") for _ in range(rng.randint(1, 6))) for _ in range(60)]
    acls = [(TOPIC, n, rng.choice((LITERAL, PREFIXED)), "User:a", "*", Op.READ,
             rng.choice((ALLOW, DENY))) for n in names]
    a = _authorizer(*acls)
    for name in {"".join(rng.choice("ab-") for _ in range(rng.randint(1, 8)))
                 for _ in range(300)}:
        applies = [acl for acl in acls
                   if (acl[2] == LITERAL and acl[1] in (name, "*"))
                   or (acl[2] == PREFIXED and name.startswith(acl[1]))]
        expected = bool(applies) and not any(acl[6] == DENY for acl in applies)
        assert a.authorize("User:a", "h", Op.READ, TOPIC, name) == expected, name
