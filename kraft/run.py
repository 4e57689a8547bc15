"""`kraft start FILE` and `kraft dev`: run a node in the foreground.

`start` runs a node from server.properties on formatted directories.

`dev` is single-node dev mode: one process with both roles and a one-voter
quorum (node id 1) on 127.0.0.1:9092, controller listener 9093. Without
`--data-dir` it formats a fresh temporary directory and removes it on exit;
with `--data-dir DIR` it formats DIR on first use (a new cluster id) and
reuses it afterwards, so data survives restarts. It prints one line
containing `ready` and `bootstrap.servers=HOST:PORT` once a client can
produce, and exits cleanly on Ctrl-C or SIGTERM. `--sasl-ssl USER:PASSWORD`
serves the client port as SASL_SSL with SCRAM-SHA-512 instead: a CA and a
node certificate are made in the data dir (kraft.security.dev_tls), USER is
created at format time, and the ready line carries the client settings.

Both log one line per significant event to stderr (`--log-level`, Kafka's
level names TRACE, DEBUG, INFO, WARN, ERROR in any case). Whatever stops them
early (a bad value, an unformatted or damaged directory, a listener port in
use, a failing disk) is one line on stderr and exit status 1 (2 for a bad
command line), never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import gc
import logging
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from kraft import meta_properties
from kraft.config import ConfigError, KafkaConfig
from kraft.storage_failure import find_storage_failure

if TYPE_CHECKING:
    from kraft.node import Node

log = logging.getLogger("kraft")

DEV_NODE_ID = 1

TRACE = 5
"""Kafka's TRACE, below DEBUG: everything kraft logs."""

# Kafka's (log4j) level names, and Python's WARNING, for --log-level.
LOG_LEVELS = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
              "WARN": logging.WARNING, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


GC_PAUSE_MAX_S = 10.0
"""The longest the cyclic garbage collector stays paused for start-up (kraft.cli
pauses it; a node that is not ready by then must not accumulate garbage cycles,
exceptions of retried requests say, while it waits for its controllers)."""


def _resume_gc() -> None:
    """End the start-up pause of the cyclic collector (kraft.cli): what start-up
    made (modules, classes, the node's long-lived objects) is frozen, never
    scanned again, and collection resumes for what is made from now on."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


class UsageError(Exception):
    """A command-line value that cannot be used; str() is the one line to print."""


def _setup_logging(level: str) -> None:
    """Log to stderr at `level` (any case); UsageError naming the valid levels if unknown."""
    number = LOG_LEVELS.get(level.upper())
    if number is None:
        raise UsageError(f"unknown --log-level {level!r}; valid levels are TRACE, DEBUG, "
                         "INFO, WARN, ERROR")
    logging.addLevelName(TRACE, "TRACE")
    logging.addLevelName(logging.WARNING, "WARN")
    logging.basicConfig(
        level=number,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--override {pair!r} is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


async def _serve(
    config: KafkaConfig, started_at: float, announce: Callable[[Node, float], str]
) -> None:
    from kraft.node import Node

    node = Node(config)

    async def announce_ready() -> None:
        with trio.move_on_after(GC_PAUSE_MAX_S):
            await node.ready.wait()
        _resume_gc()
        await node.ready.wait()
        print(announce(node, time.monotonic() - started_at), flush=True)

    async def stop_on_signal() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                node.stop()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(announce_ready)
        nursery.start_soon(stop_on_signal)
        # Returns after a signal's graceful stop; then nothing else may keep the
        # process alive (a node stopped before it was ready never announces).
        await node.run()
        nursery.cancel_scope.cancel()


def _run(
    prog: str, config: KafkaConfig, started_at: float, announce: Callable[[Node, float], str],
    *, temporary: bool = False,
) -> int:
    """Run the node until it stops: 0 after a graceful stop; 1, reported in one
    line, after a storage failure (kraft.storage_failure) or an OSError that
    stopped it (a listener port in use, say). `temporary`: the data directory
    is removed on exit (kraft dev without --data-dir)."""
    try:
        trio.run(_serve, config, started_at, announce)
    except BaseException as e:
        failure = find_storage_failure(e)
        if failure is not None:
            advice = ("the temporary data directory is removed" if temporary else
                      f"acknowledged data is on disk; start again once "
                      f"{', '.join(config.log_dirs)} is writable (each log is recovered to "
                      f"its last valid batch)")
            print(f"{prog}: storage failure, node stopped: {failure}; {advice}.",
                  file=sys.stderr)
            return 1
        only = _only_leaf(e)
        if isinstance(only, OSError):
            print(f"{prog}: {_bind_error(config, only) or _os_error(only)}", file=sys.stderr)
            return 1
        raise
    return 0


def _os_error(e: OSError) -> str:
    """An OSError as one line: what failed, and on which file when there is one."""
    if e.strerror and e.filename:
        return f"{e.strerror}: {e.filename}"
    return e.strerror or str(e)


def _bind_error(config: KafkaConfig, e: OSError) -> str | None:
    """For a listener port in use: which listener, on which host:port.

    The error of bind() names no address, so each configured listener with a
    fixed port is tried again here (the node's own sockets are closed by now);
    the one that is still taken is reported."""
    if e.errno != errno.EADDRINUSE:
        return None
    listeners = [(n, h, p) for n, (h, p) in config.listeners().items() if p != 0]
    for name, host, port in listeners:
        if _in_use(host, port):
            return f"listener {name} cannot bind {host or '0.0.0.0'}:{port}: address already in use"
    named = ", ".join(f"{n} {h or '0.0.0.0'}:{p}" for n, h, p in listeners)
    return f"a listener cannot bind its port: address already in use (listeners: {named})"


def _in_use(host: str, port: int) -> bool:
    """Whether binding host:port (as the node does, with SO_REUSEADDR) fails now."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError:
        return False
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    return True
    return False


def _only_leaf(exc: BaseException) -> BaseException:
    """The single exception inside nested one-member exception groups (else `exc`)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def dev_main(argv: list[str]) -> int:
    started_at = time.monotonic()
    parser = argparse.ArgumentParser(prog="kraft dev", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9092, help="client listener port")
    parser.add_argument("--controller-port", type=int, default=9093)
    parser.add_argument("--data-dir", help="keep data here across restarts (default: temporary)")
    parser.add_argument("--override", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="any server.properties key (repeatable)")
    parser.add_argument("--log-level", default="INFO",
                        help="TRACE, DEBUG, INFO, WARN or ERROR (default INFO)")
    parser.add_argument("--sasl-ssl", metavar="USER:PASSWORD",
                        help="serve SASL_SSL with SCRAM-SHA-512 for this user (certificates "
                             "are made in the data dir)")
    args = parser.parse_args(argv)
    try:
        _setup_logging(args.log_level)
        overrides = _overrides(args.override)
        secure = _sasl_ssl_user(args.sasl_ssl)
        if args.controller_port == 0:
            # The quorum's voter list names the controller's address, so the node
            # would wait forever for a voter at port 0 (never ready).
            raise UsageError("--controller-port 0 cannot be used: the quorum's voter list "
                             "names this port; give a free port (--port 0 works)")
    except (UsageError, ConfigError) as e:
        print(f"kraft dev: {e}", file=sys.stderr)
        return 2
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="kraft-dev-") if temporary else args.data_dir)
    try:
        props = {
            "node.id": str(DEV_NODE_ID),
            "process.roles": "broker,controller",
            "controller.quorum.voters": f"{DEV_NODE_ID}@{args.host}:{args.controller_port}",
            "listeners": f"PLAINTEXT://{args.host}:{args.port},"
                         f"CONTROLLER://{args.host}:{args.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(data_dir),
            "offsets.topic.replication.factor": "1",
            # One node has no metadata load for the quorum to batch (Kafka's 25 ms
            # linger is for that): registration, unfencing and every admin change
            # are appended at once (a start is ~50 ms sooner, CreateTopics ~25 ms).
            "controller.quorum.append.linger.ms": "1",
        }
        client_settings = ""
        if secure is not None:
            props, client_settings = _sasl_ssl_props(props, data_dir, args.host, *secure)
        props.update(overrides)
        listener = "SASL_SSL" if secure is not None else "PLAINTEXT"
        config = KafkaConfig(props, source="", origins={k: "--override" for k in overrides})
        meta = meta_properties.read(data_dir)
        cluster_id = meta.cluster_id if meta is not None else meta_properties.random_uuid()
        written = meta_properties.format_directories(
            [str(data_dir)], cluster_id, DEV_NODE_ID, ignore_formatted=True
        )
        if secure is not None and written:
            from kraft.metadata import bootstrap
            from kraft.security.scram_format import parse_add_scram

            user, password = secure
            bootstrap.write(data_dir, [parse_add_scram(
                f'SCRAM-SHA-512=[name="{user}",password="{password}"]')])
        note = ", temporary" if temporary else ""

        def announce(node: Node, elapsed: float) -> str:
            host, port = node.bound[listener]
            return (f"kraft dev ready: bootstrap.servers={host}:{port}{client_settings} "
                    f"(node {DEV_NODE_ID}, cluster {cluster_id}, data {data_dir}{note}) in "
                    f"{elapsed:.2f} s")

        return _run("kraft dev", config, started_at, announce, temporary=temporary)
    except (ConfigError, meta_properties.MetaPropertiesError) as e:
        print(f"kraft dev: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"kraft dev: {_os_error(e)}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _sasl_ssl_user(value: str | None) -> tuple[str, str] | None:
    """--sasl-ssl USER:PASSWORD as (user, password)."""
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password or '"' in value or "\\" in value:
        raise UsageError("--sasl-ssl takes USER:PASSWORD (both non-empty, without '\"' or '\\')")
    return user, password


def _sasl_ssl_props(props: dict[str, str], data_dir: Path, host: str, user: str,
                    password: str) -> tuple[dict[str, str], str]:
    """Dev props with the client port as SASL_SSL (SCRAM-SHA-512), and the client
    settings for the ready line."""
    from kraft.security.dev_tls import dev_certificates

    ca, keystore = dev_certificates(data_dir, host)
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{user}" password="{password}";')
    secure = {
        **props,
        "listeners": props["listeners"].replace("PLAINTEXT://", "SASL_SSL://", 1),
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca),
    }
    settings = (f" security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512 "
                f"sasl.username={user} ssl.ca.location={ca}")
    return secure, settings


def start_main(argv: list[str]) -> int:
    started_at = time.monotonic()
    parser = argparse.ArgumentParser(prog="kraft start", description="run a node")
    parser.add_argument("config", help="server.properties")
    parser.add_argument("--override", "-o", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--log-level", default="INFO",
                        help="TRACE, DEBUG, INFO, WARN or ERROR (default INFO)")
    args = parser.parse_args(argv)
    try:
        _setup_logging(args.log_level)
        overrides = _overrides(args.override)
    except (UsageError, ConfigError) as e:
        print(f"kraft start: {e}", file=sys.stderr)
        return 2
    try:
        config = KafkaConfig.load(args.config, overrides)

        def announce(node: Node, elapsed: float) -> str:
            names = ", ".join(f"{n}={h}:{p}" for n, (h, p) in node.bound.items())
            return f"kraft node {node.node_id} ready: {names} in {elapsed:.2f} s"

        return _run("kraft start", config, started_at, announce)
    except (ConfigError, meta_properties.MetaPropertiesError) as e:
        print(f"kraft start: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"kraft start: {_os_error(e)}", file=sys.stderr)
        return 1
