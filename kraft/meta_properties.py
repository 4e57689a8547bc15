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

Read as java.util.Properties reads a stream (ISO-8859-1), so any bytes
decode; a damaged file (garbage, a missing or malformed key) is a
MetaPropertiesError naming the file and the key.

Written atomically: temp file, fsync, rename, fsync of the directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kraft import kafka_uuid
from kraft.config import parse_properties
from kraft.log.checkpoint import atomic_write

FILE_NAME = "meta.properties"


class MetaPropertiesError(Exception):
    """A directory is unformatted, or formatted for another cluster or node."""


def random_uuid() -> str:
    """A random id as `kafka-storage random-uuid` prints it (kraft.kafka_uuid)."""
    return kafka_uuid.encode(kafka_uuid.random_uuid())


_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def check_cluster_id(cluster_id: str) -> None:
    """Raise MetaPropertiesError unless `cluster_id` is a Kafka Uuid string (what
    `random_uuid` prints: URL-safe base64 of 16 bytes), in kafka-storage's words."""
    problem = _uuid_problem(cluster_id)
    if problem is not None:
        raise MetaPropertiesError(f"Cluster ID string {cluster_id} does not appear to be a "
                                  f"valid UUID: {problem}")


def _uuid_problem(text: str) -> str | None:
    """Why Kafka's Uuid.fromString (Java's URL-safe Base64 decoder) refuses `text`."""
    if len(text) > 24:
        return (f"Input string with prefix `{text[:24]}` is too long to be decoded as a "
                "base64 UUID")
    body = text.rstrip("=")
    for c in body:
        if c not in _BASE64URL:
            return f"Illegal base64 character {ord(c):x}"
    if len(body) % 4 == 1:
        return "Last unit does not have enough valid bits"
    decoded = len(body) * 3 // 4
    if decoded != 16:
        return (f"Input string `{text}` decoded as {decoded} bytes, which is not equal to "
                "the expected 16 bytes of a base64-encoded UUID")
    return None


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
    """The directory's meta.properties, or None if it has none.

    MetaPropertiesError, naming the file and the key, if it is damaged."""
    path = Path(directory) / FILE_NAME
    try:
        props = parse_properties(path.read_bytes().decode("iso-8859-1"))
    except FileNotFoundError:
        return None

    def damaged(what: str) -> MetaPropertiesError:
        return MetaPropertiesError(
            f"{path} is damaged: {what}; restore it (the node's other log directories hold "
            f"the same cluster.id and node.id), or empty the directory and run kraft format")

    cluster_id = props.get("cluster.id", "").strip()
    if not cluster_id:
        raise damaged("cluster.id is missing")
    numbers = {}
    for key, default in (("node.id", None), ("version", "0")):
        text = props.get(key, default)
        if text is None:
            raise damaged(f"{key} is missing")
        try:
            numbers[key] = int(text.strip())
        except ValueError:
            raise damaged(f"{key} {text!r} is not a number") from None
    return MetaProperties(cluster_id=cluster_id, node_id=numbers["node.id"],
                          directory_id=props.get("directory.id", "").strip(),
                          version=numbers["version"])


def write(directory: str | Path, meta: MetaProperties) -> None:
    """Write meta.properties into `directory` (created if missing), durably."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / FILE_NAME, meta.render().encode())


def format_directories(
    directories: list[str], cluster_id: str, node_id: int, *, ignore_formatted: bool = False,
    directory_ids: Mapping[str, str] | None = None,
    before_write: Callable[[list[str]], None] | None = None,
) -> list[Path]:
    """Format each directory for (cluster_id, node_id); return those written.

    As `kafka-storage format`: every directory already formatted must belong
    to this cluster and node (else an error saying whose it is and what to
    do); then, unless `ignore_formatted`, any formatted directory is an error
    ("Log directory X is already formatted. Use --ignore-formatted to ignore
    this directory and format the others."); with it, those are left alone.
    Nothing is written when there is an error.

    `directory_ids` gives the directory.id of some directories (KIP-1035:
    `--initial-controllers` names the metadata directory's); the others get
    a random one. `before_write`, if given, is called with the directories
    about to be formatted before any meta.properties is written (the
    bootstrap checkpoint goes first, so a formatted directory always has it).
    """
    existing = {d: read(d) for d in directories}
    for directory, meta in existing.items():
        if meta is None:
            continue
        path = Path(directory) / FILE_NAME
        if meta.cluster_id != cluster_id:
            raise MetaPropertiesError(
                f"Invalid cluster.id in: {path}. Expected {cluster_id}, but read "
                f"{meta.cluster_id}. The directory belongs to another cluster: format with "
                f"--cluster-id {meta.cluster_id} to keep it, or empty it (its data is lost) "
                f"to start a new cluster")
        if meta.node_id != node_id:
            raise MetaPropertiesError(
                f"Stored node id {meta.node_id} doesn't match previous node id {node_id} in "
                f"{path}. If you moved your data, make sure your configured node id matches. "
                "If you intend to create a new node, you should remove all data in your data "
                "directories.")
    formatted = [d for d, meta in existing.items() if meta is not None]
    if formatted and not ignore_formatted:
        raise MetaPropertiesError(
            f"Log directory {formatted[0]} is already formatted. Use --ignore-formatted to "
            "ignore this directory and format the others.")
    todo = [d for d, meta in existing.items() if meta is None]
    if before_write is not None and todo:
        before_write(todo)
    ids = directory_ids or {}
    for directory in todo:
        write(directory, MetaProperties(cluster_id, node_id, ids.get(directory) or random_uuid()))
    return [Path(d) for d in todo]


FORMAT_ADVICE = "kraft format --config FILE --cluster-id $(kraft random-uuid)"
"""How to format a node of a static quorum (controller.quorum.voters) or a broker."""
DYNAMIC_FORMAT_ADVICE = ("kraft storage format -t $(kraft storage random-uuid) -c FILE "
                         "--standalone (or --initial-controllers ..., --no-initial-controllers)")
"""How to format a controller of a dynamic quorum (controller.quorum.bootstrap.servers):
`kraft format` refuses it, as kafka-storage does without one of these flags."""


def check(
    directory: str | Path, meta: MetaProperties | None, cluster_id: str | None, node_id: int,
    *, advice: str = FORMAT_ADVICE,
) -> None:
    """Raise MetaPropertiesError unless `meta` belongs to this cluster and node;
    `advice` is the format command named for an unformatted directory."""
    if meta is None:
        raise MetaPropertiesError(f"{directory} is not formatted: run `{advice}` first")
    if cluster_id is not None and meta.cluster_id != cluster_id:
        raise MetaPropertiesError(
            f"{directory} belongs to cluster {meta.cluster_id}, not {cluster_id}"
        )
    if meta.node_id != node_id:
        raise MetaPropertiesError(
            f"{directory} belongs to node.id {meta.node_id}, but the config says node.id "
            f"{node_id}"
        )
