"""The `kraft` command.

Subcommands that exist today are real. Those planned but not built yet are
listed so that `kraft <name>` says clearly that it is not there, instead of
failing with argparse's generic "invalid choice".
"""

from __future__ import annotations

import argparse
import base64
import sys
import uuid

# Planned subcommands and the work that brings them (see the issue tracker).
NOT_BUILT_YET = {
    "dev": "single-node dev mode (broker + controller in one process)",
    "format": "formatting a data directory (meta.properties)",
    "start": "running a node from server.properties",
    "metadata": "dumping and showing the metadata log",
    "quorum": "describing the controller quorum",
}


def random_uuid() -> str:
    """A random cluster id in Kafka's format: URL-safe base64 of 16 bytes, unpadded."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kraft", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("random-uuid", help="print a new random cluster id")
    for name, what in NOT_BUILT_YET.items():
        sub.add_parser(name, help=f"(not built yet) {what}", add_help=False)
    args, _rest = parser.parse_known_args(argv)
    if args.command == "random-uuid":
        print(random_uuid())
        return 0
    print(
        f"kraft {args.command}: {NOT_BUILT_YET[args.command]} is not built yet.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
