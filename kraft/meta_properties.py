"""meta.properties: the identity a formatted log directory carries.

File format (Kafka's, version 1, java.util.Properties syntax):

    #
    #<timestamp comment>
    cluster.id=<22-char base64url UUID>
    directory.id=<22-char base64url UUID, unique per directory (KIP-858)>
    node.id=<int>
    version=1

`kraft format` writes one into every log directory (and the metadata log
directory); a node refuses to start on a directory without one, or whose
cluster.id or node.id differs from its configuration. A directory wiped and
formatted again gets a new directory.id, which is how KIP-853 tells a voter
that lost its disk from the one that had it.

Written atomically: temp file, fsync, rename, fsync of the directory.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kraft.config import parse_properties
from kraft.log.checkpoint import atomic_write

FILE_NAME = "meta.properties"


class MetaPropertiesError(Exception):
    """A directory is unformatted, or formatted for another cluster or node."""


def random_uuid() -> str:
    """A random id in Kafka's format: URL-safe base64 of 16 bytes, unpadded."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class MetaProperties:
    cluster_id: str
    node_id: int
    directory_id: str
    version: int = 1

    def render(self) -> str:
        return (
            "#\n"
            f"#{time.strftime('%a %b %d %H:%M:%S %Z %Y')}\n"
            f"cluster.id={self.cluster_id}\n"
            f"directory.id={self.directory_id}\n"
            f"node.id={self.node_id}\n"
            f"version={self.version}\n"
        )


def read(directory: str | Path) -> MetaProperties | None:
    """The directory's meta.properties, or None if it has none."""
    path = Path(directory) / FILE_NAME
    try:
        props = parse_properties(path.read_text())
    except FileNotFoundError:
        return None
    try:
        return MetaProperties(
            cluster_id=props["cluster.id"],
            node_id=int(props["node.id"]),
            directory_id=props.get("directory.id", ""),
            version=int(props.get("version", "0")),
        )
    except (KeyError, ValueError) as e:
        raise MetaPropertiesError(f"{path} is damaged ({e}); format the directory again") from e


def write(directory: str | Path, meta: MetaProperties) -> None:
    """Write meta.properties into `directory` (created if missing), durably."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / FILE_NAME, meta.render().encode())


def format_directories(
    directories: list[str], cluster_id: str, node_id: int, *, ignore_formatted: bool = False
) -> list[Path]:
    """Format each directory for (cluster_id, node_id); return those written.

    A directory already formatted is an error (as in `kafka-storage format`)
    unless `ignore_formatted`, in which case it must match and is left alone.
    """
    written = []
    for directory in directories:
        existing = read(directory)
        if existing is not None:
            if not ignore_formatted:
                raise MetaPropertiesError(
                    f"{directory} is already formatted (cluster {existing.cluster_id}, "
                    f"node {existing.node_id}); use --ignore-formatted to skip it"
                )
            check(directory, existing, cluster_id, node_id)
            continue
        write(directory, MetaProperties(cluster_id, node_id, random_uuid()))
        written.append(Path(directory))
    return written


def check(
    directory: str | Path, meta: MetaProperties | None, cluster_id: str | None, node_id: int
) -> None:
    """Raise MetaPropertiesError unless `meta` belongs to this cluster and node."""
    if meta is None:
        raise MetaPropertiesError(
            f"{directory} is not formatted: run `kraft format --config FILE "
            f"--cluster-id $(kraft random-uuid)` first"
        )
    if cluster_id is not None and meta.cluster_id != cluster_id:
        raise MetaPropertiesError(
            f"{directory} belongs to cluster {meta.cluster_id}, not {cluster_id}"
        )
    if meta.node_id != node_id:
        raise MetaPropertiesError(
            f"{directory} belongs to node.id {meta.node_id}, but the config says node.id "
            f"{node_id}"
        )
