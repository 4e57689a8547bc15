"""Deltas of the security areas of the image: SCRAM credentials and ACLs.

Replay semantics (Kafka's ScramControlManager and AclControlManager replay):
- UserScramCredentialRecord sets (or replaces) the credential of (mechanism,
  name); RemoveUserScramCredentialRecord needs one to exist.
- AccessControlEntryRecord adds an ACL under an id no ACL has;
  RemoveAccessControlEntryRecord needs that id.
A record that does not fit raises MetadataReplayError (kraft.metadata.delta).
"""

from __future__ import annotations

import uuid

from kraft.metadata.image import (
    AclEntry,
    AclsImage,
    ScramCredentialData,
    ScramImage,
    frozen_mapping,
)
from kraft.metadata.records import (
    AccessControlEntryRecord,
    RemoveAccessControlEntryRecord,
    RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
)

__all__ = ["AclsDelta", "ReplayError", "ScramDelta"]


class ReplayError(Exception):
    """A security record that does not fit the state (the delta raises its own error)."""


class ScramDelta:
    def __init__(self, image: ScramImage) -> None:
        self.image = image
        self.credentials = dict(image.credentials)

    def replay_set(self, record: UserScramCredentialRecord) -> None:
        self.credentials[(record.mechanism, record.name)] = ScramCredentialData(
            record.salt, record.stored_key, record.server_key, record.iterations)

    def replay_remove(self, record: RemoveUserScramCredentialRecord) -> None:
        if self.credentials.pop((record.mechanism, record.name), None) is None:
            raise ReplayError(f"no SCRAM credential of mechanism {record.mechanism} for "
                              f"{record.name!r} to remove")

    def apply(self) -> ScramImage:
        return ScramImage(frozen_mapping(dict(self.credentials)))


class AclsDelta:
    def __init__(self, image: AclsImage) -> None:
        self.image = image
        self.acls: dict[uuid.UUID, AclEntry] = dict(image.acls)

    def replay_create(self, record: AccessControlEntryRecord) -> None:
        if record.id in self.acls:
            raise ReplayError(f"an ACL with id {record.id} already exists")
        self.acls[record.id] = AclEntry(record.resource_type, record.resource_name,
                                        record.pattern_type, record.principal, record.host,
                                        record.operation, record.permission_type)

    def replay_remove(self, record: RemoveAccessControlEntryRecord) -> None:
        if self.acls.pop(record.id, None) is None:
            raise ReplayError(f"no ACL with id {record.id} to remove")

    def apply(self) -> AclsImage:
        return AclsImage(frozen_mapping(dict(self.acls)))
