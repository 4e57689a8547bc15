"""`kraft storage format|info|random-uuid`: Kafka's kafka-storage, flags and messages.

    kraft storage random-uuid
    kraft storage format -t ID -c server.properties [--standalone |
        --initial-controllers 1@host:port:DIRECTORY_ID,... | --no-initial-controllers]
        [--ignore-formatted] [--release-version 3.6-IV0]
        [--add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]' ...]
        [--feature transaction.version=1 ...]
    kraft storage info -c server.properties

`format` checks what kafka-storage format (Kafka 4.4) checks, with its
messages: a valid cluster id, a config `kraft start` would run, and the
quorum flags:

- `controller.quorum.voters` set (a static quorum, kraft.version 0):
  --standalone and --initial-controllers are refused.
- `controller.quorum.bootstrap.servers` instead, on a controller: one of
  --standalone (this node is the only voter), --initial-controllers (the
  given voters; this node's metadata directory takes the directory id the
  list gives it) or --no-initial-controllers is required. The first two
  write the voter set as Kafka does, into the bootstrap checkpoint
  (kraft.raft.bootstrap_checkpoint), which `kraft start` reads.

Every directory's meta.properties carries a directory.id (KIP-1035).
--release-version names the metadata.version to bootstrap with; kraft writes
3.6-IV0 and refuses others it cannot run, in one line. --add-scram puts SCRAM
credentials into the metadata directory's bootstrap records
(kraft.metadata.bootstrap), which the first active controller writes into the
metadata log, as Kafka's bootstrap checkpoint does; so does --feature
(kraft.tools.storage_features says which levels kraft runs).

`info` prints, as kafka-storage info, the log directories found and their
meta.properties, or the problems found (exit 1).
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from kraft import meta_properties
from kraft.config import ConfigError, KafkaConfig, check_config
from kraft.log.results import wall_clock_ms

# Kafka 4.4's metadata.version names (MetadataVersion.java), for its "Unknown
# metadata.version" message; kraft bootstraps RELEASE_VERSION only.
KAFKA_METADATA_VERSIONS = (
    "3.3-IV3", "3.4-IV0", "3.5-IV0", "3.5-IV1", "3.5-IV2", "3.6-IV0", "3.6-IV1", "3.6-IV2",
    "3.7-IV0", "3.7-IV1", "3.7-IV2", "3.7-IV3", "3.7-IV4", "3.8-IV0", "3.9-IV0", "4.0-IV0",
    "4.0-IV1", "4.0-IV2", "4.0-IV3", "4.1-IV0", "4.1-IV1", "4.2-IV0", "4.2-IV1", "4.3-IV0",
    "4.4-IV0", "4.4-IV1", "4.4-IV2",
)
RELEASE_VERSION = "3.6-IV0"
"""What kraft's active controller bootstraps (QuorumController METADATA_VERSION_LEVEL 12)."""
RELEASE_LEVEL = 7 + KAFKA_METADATA_VERSIONS.index(RELEASE_VERSION)  # 3.3-IV3 is level 7


class FormatError(Exception):
    """A format that must not happen; the message is Kafka's (or says what to do)."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """`kraft storage ...` with kafka-storage's subcommands and flags."""
    storage = sub.add_parser("storage", help="format and inspect log directories "
                             "(Kafka's kafka-storage)")
    storage_sub = storage.add_subparsers(dest="storage_command", required=True)
    storage_sub.add_parser("random-uuid", help="Print a random UUID.")
    info = storage_sub.add_parser(
        "info", help="Get information about the Kafka log directories on this node.")
    info.add_argument("--config", "-c", required=True,
                      help="The Kafka configuration file to use.")
    fmt = storage_sub.add_parser("format", help="Format the Kafka log directories on this node.")
    fmt.add_argument("--config", "-c", required=True, help="The Kafka configuration file to use.")
    fmt.add_argument("--cluster-id", "-t", required=True, help="The cluster ID to use.")
    fmt.add_argument("--ignore-formatted", "-g", action="store_true",
                     help="skip over already formatted directories rather than failing")
    fmt.add_argument("--release-version", "-r",
                     help=f"the metadata.version to bootstrap with; kraft runs "
                          f"{RELEASE_VERSION} (the default)")
    fmt.add_argument("--feature", "-f", action="append", metavar="FEATURE=LEVEL",
                     help="a feature level to bootstrap with, e.g. transaction.version=1 "
                          "(repeatable)")
    fmt.add_argument("--add-scram", "-S", action="append", metavar="SCRAM_CREDENTIAL",
                     help="a SCRAM credential to bootstrap with, as "
                          "'SCRAM-SHA-256=[name=alice,password=alice-secret]' (repeatable)")
    quorum = fmt.add_mutually_exclusive_group()
    quorum.add_argument("--standalone", "-s", action="store_true",
                        help="initialize a controller as a single-node dynamic quorum "
                             "(controller.quorum.bootstrap.servers, not .voters)")
    quorum.add_argument("--no-initial-controllers", "-N", action="store_true",
                        help="initialize a server without specifying a dynamic quorum")
    quorum.add_argument("--initial-controllers", "-I", metavar="ID@HOST:PORT:DIRECTORY_ID,...",
                        help="initialize a server with this dynamic quorum; the same "
                             "value on every node")


def main(args: argparse.Namespace) -> int:
    if args.storage_command == "random-uuid":
        print(meta_properties.random_uuid())
        return 0
    if args.storage_command == "info":
        return info(args.config)
    try:
        for line in format_storage(args):
            print(line)
    except (ConfigError, FormatError, meta_properties.MetaPropertiesError) as e:
        print(e, file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{e.strerror}: {e.filename}", file=sys.stderr)
        return 1
    return 0


def format_storage(args: argparse.Namespace) -> list[str]:
    """Format the node's directories; the lines to print. Raises FormatError,
    ConfigError or MetaPropertiesError (nothing written) when it must not."""
    # Loaded here: only format needs them.
    from kraft.metadata import bootstrap
    from kraft.raft import bootstrap_checkpoint as bc
    from kraft.security.scram_format import parse_add_scram
    from kraft.tools.storage_features import FeatureError, bootstrap_features

    try:
        scram_records = [parse_add_scram(text) for text in args.add_scram or ()]
    except ValueError as e:
        raise FormatError(str(e)) from None
    meta_properties.check_cluster_id(args.cluster_id)
    release = args.release_version or RELEASE_VERSION
    if release not in KAFKA_METADATA_VERSIONS:
        raise FormatError(f"Unknown metadata.version '{release}'. Supported metadata.version "
                          f"are: {', '.join(KAFKA_METADATA_VERSIONS)}")
    if release != RELEASE_VERSION:
        raise FormatError(f"metadata.version {release} is not supported yet: kraft runs "
                          f"{RELEASE_VERSION}; omit --release-version or pass "
                          f"{RELEASE_VERSION}")
    config = KafkaConfig.load(args.config)
    check_config(config)
    roles = set(config.process_roles)
    dynamic = args.standalone or args.initial_controllers is not None
    try:
        feature_records, _ = bootstrap_features(
            args.feature or (), args.release_version is not None,
            not config.quorum_voters and (dynamic or args.no_initial_controllers),
            RELEASE_LEVEL)
    except FeatureError as e:
        raise FormatError(str(e)) from None
    bootstrap_records = [*feature_records, *scram_records]
    if config.quorum_voters and dynamic:
        raise FormatError(
            "You cannot specify controller.quorum.voters and format the node with "
            "--initial-controllers or --standalone. If you want to use dynamic quorum, please "
            "remove controller.quorum.voters and specify controller.quorum.bootstrap.servers "
            "instead.")
    if ("controller" in roles and not config.quorum_voters and not dynamic
            and not args.no_initial_controllers):
        raise FormatError(
            "Because controller.quorum.voters is not set on this controller, you must specify "
            "one of the following: --standalone, --initial-controllers, or "
            "--no-initial-controllers.")
    listener = config.controller_listener_names[0]
    voters: list[bc.Voter] = []
    metadata_dir = config.metadata_log_dir
    directory_ids: dict[str, str] = {}
    if args.standalone:
        if "controller" not in roles:
            raise FormatError("You can only use --standalone on a controller.")
        host, port = _controller_endpoint(config, listener)
        directory_ids[metadata_dir] = meta_properties.random_uuid()
        voters = [bc.Voter(config.node_id, directory_ids[metadata_dir], listener, host, port)]
    elif args.initial_controllers is not None:
        try:
            voters = bc.parse_dynamic_voters(args.initial_controllers, listener)
        except ValueError as e:
            raise FormatError(str(e)) from None
        mine = next((v for v in voters if v.node_id == config.node_id), None)
        if mine is not None:
            directory_ids[metadata_dir] = mine.directory_id
    directories = list(dict.fromkeys([*config.log_dirs, metadata_dir]))

    def write_checkpoint(todo: list[str]) -> None:
        if voters and metadata_dir in todo:
            bc.write(metadata_dir, voters, wall_clock_ms())
        if bootstrap_records and metadata_dir in todo:
            bootstrap.write(metadata_dir, bootstrap_records)

    written = meta_properties.format_directories(
        directories, args.cluster_id, config.node_id, ignore_formatted=args.ignore_formatted,
        directory_ids=directory_ids, before_write=write_checkpoint)
    if not written:
        return ["All of the log directories are already formatted."]
    lines = []
    for d in sorted(written, key=lambda p: str(p) != metadata_dir):
        if str(d) != metadata_dir:
            kind = "data directory"
        elif not voters:
            kind = "metadata directory"
        elif metadata_dir in directory_ids:
            kind = "dynamic metadata voter directory"
        else:
            kind = "dynamic metadata directory"
        lines.append(f"Formatting {kind} {d} with metadata.version {release}.")
    return lines


def _controller_endpoint(config: KafkaConfig, listener: str) -> tuple[str, int]:
    """Where the other nodes reach this controller: its advertised controller
    listener, else the listener itself (an empty host: this machine's name)."""
    advertised = config.listeners("advertised.listeners")
    host, port = advertised.get(listener) or config.listeners().get(listener, ("", 0))
    if port == 0:
        raise FormatError(f"No controller listeners found: {listener} needs a fixed port in "
                          "listeners (or advertised.listeners) to be recorded as a voter")
    return host or socket.getfqdn(), port


def info(config_path: str) -> int:
    """kafka-storage info: the log directories and their meta.properties."""
    try:
        config = KafkaConfig.load(config_path)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{e.strerror}: {e.filename}", file=sys.stderr)
        return 1
    directories = list(dict.fromkeys([*config.log_dirs, config.metadata_log_dir]))
    problems: list[str] = []
    found: list[str] = []
    metas: dict[tuple[str, ...], list[str]] = {}
    for d in directories:
        path = Path(d)
        if not path.exists():
            problems.append(f"{d} does not exist")
            continue
        if not path.is_dir():
            problems.append(f"{d} is not a directory")
            continue
        found.append(d)
        try:
            meta = meta_properties.read(d)
        except meta_properties.MetaPropertiesError as e:
            problems.append(str(e))
            continue
        if meta is None:
            problems.append(f"{d} is not formatted.")
            continue
        fields = (f"cluster.id={meta.cluster_id}", f"directory.id={meta.directory_id}",
                  f"node.id={meta.node_id}", f"version={meta.version}")
        metas.setdefault(fields, []).append(d)
    if len({(m[0], m[2]) for m in metas}) > 1:
        problems.append("Found more than one set of cluster.id and node.id: "
                        + "; ".join(f"{', '.join(ds)}: {m[0]}, {m[2]}" for m, ds in metas.items()))
    out = []
    if found:
        out.append("Found log directory:" if len(found) == 1 else "Found log directories:")
        out += [f"  {d}" for d in found]
        out.append("")
    if metas:
        first = next(iter(metas))
        out.append(f"Found metadata: {{{', '.join(first)}}}")
        out.append("")
    if problems:
        out.append("Found problems:")
        out += [f"  {p}" for p in problems]
        out.append("")
    print("\n".join(out))
    return 1 if problems else 0
