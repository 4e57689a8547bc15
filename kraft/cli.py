"""The `kraft` command: dev, start, storage, format, random-uuid, metadata,
metadata-quorum, quorum, cluster.

`python -m kraft ...` is the same command; `kraft --version` prints the
installed version.

Subcommands that run a server (`dev`, `start`, `raft-test-server`) parse
their own arguments (see kraft/run.py) and are dispatched before anything
else is imported: a node's start-up does not pay for the tools' modules, nor
the tools for a node's (see "What is loaded at start-up" in docs/design.md).

`kraft storage format|info|random-uuid` is Kafka's kafka-storage, with its
flags and messages (kraft/tools/storage.py). `kraft format` is the older
short form for static quorums (controller.quorum.voters); it checks what
kafka-storage format checks: the cluster id must be a Kafka Uuid as
`kraft random-uuid` prints it, the config must be one `kraft start` would
run (kraft.config.check_config), and a directory already formatted is
refused with Kafka's advice (or skipped with --ignore-formatted when it
belongs to the same cluster and node).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kraft import dataclass_code, meta_properties
from kraft.config import ConfigError, KafkaConfig, check_config

SERVER_COMMANDS = ("dev", "start", "raft-test-server")


class _Version(argparse.Action):
    """--version: the version of the installed distribution (package metadata)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from importlib import metadata

        try:
            version = metadata.version("kraft")
        except metadata.PackageNotFoundError:  # running from a source tree, not installed
            from kraft import __version__ as version
        print(f"kraft {version}")
        parser.exit()


def _format(args: argparse.Namespace) -> int:
    from kraft.metadata import bootstrap
    from kraft.security.scram_format import parse_add_scram

    try:
        meta_properties.check_cluster_id(args.cluster_id)
        config = KafkaConfig.load(args.config)
        check_config(config)
    except (ConfigError, meta_properties.MetaPropertiesError) as e:
        print(f"kraft format: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"kraft format: {e.strerror}: {e.filename}", file=sys.stderr)
        return 1
    if "controller" in config.process_roles and not config.quorum_voters:
        print("kraft format: controller.quorum.voters is not set, so this controller needs a "
              "dynamic quorum: run `kraft storage format` with --standalone, "
              "--initial-controllers or --no-initial-controllers", file=sys.stderr)
        return 1
    try:
        scram_records = [parse_add_scram(text) for text in args.add_scram or ()]
    except ValueError as e:
        print(f"kraft format: {e}", file=sys.stderr)
        return 1
    node_id = config.node_id
    directories = list(dict.fromkeys([*config.log_dirs, config.metadata_log_dir]))
    try:
        written = meta_properties.format_directories(
            directories, args.cluster_id, node_id, ignore_formatted=args.ignore_formatted
        )
    except meta_properties.MetaPropertiesError as e:
        print(f"kraft format: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"kraft format: {e.strerror}: {e.filename}", file=sys.stderr)
        return 1
    if scram_records and Path(config.metadata_log_dir) in written:
        bootstrap.write(config.metadata_log_dir, scram_records)
        print(f"Bootstrap SCRAM credentials for {len(scram_records)} user(s) written to "
              f"{config.metadata_log_dir}")
    for d in written:
        print(f"Formatted {d} for cluster {args.cluster_id}, node {node_id}")
    if not written:
        print("All of the log directories are already formatted.")
    return 0


def _kio_without_asyncio() -> None:
    """Import kio's serializers without importing asyncio (~20-40 ms of start-up).

    kio.serial.writers imports asyncio only to spell a type alias
    (`Writable = asyncio.StreamWriter | IO[bytes]`), evaluated once at import;
    nothing in kio calls into asyncio. So while that module loads, `asyncio`
    is a stand-in holding just a `StreamWriter` class, removed from
    sys.modules right after: a later `import asyncio` loads the real one.
    Nothing happens when asyncio or kio.serial is already loaded."""
    if "asyncio" in sys.modules or "kio.serial" in sys.modules:
        return
    stand_in = types.ModuleType("asyncio", "kraft's stand-in while kio.serial loads")
    stand_in.StreamWriter = type("StreamWriter", (), {})  # type: ignore[attr-defined]
    sys.modules["asyncio"] = stand_in
    try:
        import kio.serial.writers  # noqa: F401
    finally:
        if sys.modules.get("asyncio") is stand_in:
            del sys.modules["asyncio"]


def main(argv: list[str] | None = None) -> int:
    # kio registers hypothesis strategies when hypothesis is importable, which
    # costs ~150-180 ms of startup; no kraft command needs them. So before
    # anything imports kio (the tools below do), hypothesis is marked absent
    # unless it is already loaded (a test process).
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    # The methods @dataclass generates, compiled once and kept (kraft.dataclass_code):
    # most of what the modules below cost to import.
    dataclass_code.enable()
    atexit.register(dataclass_code.save)
    args_given = sys.argv[1:] if argv is None else argv
    if args_given and args_given[0] in ("dev", "start"):
        # A node's start-up allocates ~40,000 long-lived objects (modules,
        # classes, functions) that the cyclic collector would scan again and
        # again while they load, for nothing (~40-80 ms of CPU): it is paused
        # until the node is ready (at most kraft.run.GC_PAUSE_MAX_S), when
        # kraft.run freezes what start-up made (gc.freeze: never scanned
        # again) and turns it back on.
        gc.disable()
        _kio_without_asyncio()
    if args_given and args_given[0] in SERVER_COMMANDS:
        return _run_server(args_given[0], args_given[1:])
    from kraft.tools import (
        cluster,
        metadata_quorum,
        reassign_partitions,
        storage,
        transactions,
    )

    parser = argparse.ArgumentParser(prog="kraft", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("random-uuid", help="print a new random cluster id")
    fmt = sub.add_parser("format", help="format the log directories of a node")
    fmt.add_argument("--config", "-c", required=True, help="server.properties")
    fmt.add_argument("--cluster-id", "-t", required=True, help="from `kraft random-uuid`")
    fmt.add_argument("--ignore-formatted", "-g", action="store_true",
                     help="skip directories already formatted for this cluster and node")
    storage.add_parsers(sub)
    metadata_quorum.add_parsers(sub)
    cluster.add_parsers(sub)
    transactions.add_parsers(sub)
    reassign_partitions.add_parsers(sub)
    fmt.add_argument("--add-scram", "-S", action="append", metavar="SCRAM",
                     help="a SCRAM user for the new cluster, as kafka-storage takes it: "
                          "'SCRAM-SHA-512=[name=alice,password=alice-secret]' (repeatable)")
    sub.add_parser("dev", add_help=False,
                   help="single-node dev mode on 127.0.0.1:9092 (broker + controller); see --help")
    sub.add_parser("start", add_help=False, help="run a node from server.properties; see --help")
    sub.add_parser("raft-test-server", add_help=False,
                   help="run one quorum member that proposes records while it leads "
                        "(Kafka's TestRaftServer); see --help")
    quorum = sub.add_parser("quorum", help="the controller quorum")
    quorum_sub = quorum.add_subparsers(dest="quorum_command", required=True)
    quorum_status = quorum_sub.add_parser(
        "status", help="leader, epoch, high watermark and each replica's lag"
    )
    quorum_status.add_argument("--bootstrap-controller", required=True, metavar="HOST:PORT")
    quorum_status.add_argument("--json", action="store_true", help="one JSON object")
    metadata = sub.add_parser("metadata", help="read a node's metadata log directory")
    metadata_sub = metadata.add_subparsers(dest="metadata_command", required=True)
    dump = metadata_sub.add_parser("dump", help="every record, snapshot first, in order")
    dump.add_argument("dir", help="a log dir holding __cluster_metadata-0/, or that dir")
    dump.add_argument("--json", action="store_true", help="one JSON object per record")
    show = metadata_sub.add_parser("show", help="the final metadata image as tables")
    show.add_argument("dir", help="a log dir holding __cluster_metadata-0/, or that dir")
    args, rest = parser.parse_known_args(argv)
    if args.command == "random-uuid":
        print(meta_properties.random_uuid())
        return 0
    if args.command in SERVER_COMMANDS:  # reached when something precedes the command
        return _run_server(args.command, rest)
    if args.command == "storage":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return storage.main(args)
    if args.command == "cluster":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return cluster.main(args)
    if args.command == "transactions":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return transactions.main(args)
    if args.command == "reassign-partitions":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return reassign_partitions.main(args)
    if args.command == "metadata-quorum":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return metadata_quorum.main(args)
    if args.command == "metadata":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from kraft.tools import metadata_dump

        if args.metadata_command == "dump":
            return metadata_dump.dump(args.dir, args.json)
        return metadata_dump.show(args.dir)
    if args.command == "quorum":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from kraft.tools import quorum_status as quorum_status_tool

        return quorum_status_tool.main(args.bootstrap_controller, args.json)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _format(args)


def _run_server(command: str, argv: list[str]) -> int:
    """`dev`, `start` or `raft-test-server` with the rest of the command line."""
    if command == "raft-test-server":
        from kraft.tools import raft_test_server

        return raft_test_server.main(argv)
    from kraft import run

    return run.dev_main(argv) if command == "dev" else run.start_main(argv)


if __name__ == "__main__":
    sys.exit(main())
