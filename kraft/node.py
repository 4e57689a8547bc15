"""Node: one kraft process, assembled from `process.roles`.

- Every node runs a raft member of the metadata quorum (a voter if its id is
  in the voter set, else an observer) and a MetadataLoader that
  turns committed metadata records into images.
- `controller` role: a QuorumController publishing from the loader, and the
  controller listener (first of controller.listener.names) serving the raft
  RPCs, DescribeQuorum and the controller APIs.
- `broker` role: a BrokerServer publishing from the loader, serving every
  other listener with the client APIs, registering and heartbeating with the
  active controller through the controller listeners of the voters.

The voter set is controller.quorum.voters, else (controller.quorum.bootstrap.servers,
KIP-853) the one `kraft storage format` recorded in the bootstrap checkpoint
(kraft.raft.bootstrap_checkpoint).

Startup refuses to run on directories that are not formatted, or formatted
for another cluster or node id (meta.properties), with a message that says
what to do. Shutdown (`stop`): the broker first asks for a controlled
shutdown so leadership moves away, then stops serving clients (as Kafka's
stopProcessingRequests), then the raft member resigns, then logs are
closed; a second signal is not needed.

Readiness: `ready` is set when the node can serve what its roles promise:
the broker is unfenced (clients can produce), or for a controller-only node
the controller listener is up. Client listeners are bound at start but accept
connections only once the broker is unfenced, as Kafka's acceptors: a client
that connects early waits instead of being told there is no live broker.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import logging
import os
import random
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from kraft import meta_properties, shutdown_log
from kraft.broker.controller_channel import ControllerChannel, ControllerUnavailable
from kraft.broker.server import BrokerServer
from kraft.config import ConfigError, KafkaConfig, Listener, check_config, client_listeners
from kraft.controller import apis as controller_apis
from kraft.controller import authorization
from kraft.controller.quorum_controller import QuorumController
from kraft.controller.registration_manager import (
    SUPPORTED_FEATURES,
    ControllerRegistrationManager,
    RegisteredListener,
)
from kraft.metadata import bootstrap
from kraft.metadata.loader import MetadataLoader
from kraft.net import api_versions, sasl
from kraft.net.client import KafkaClient
from kraft.net.registry import ApiRegistry
from kraft.net.server import KafkaServer
from kraft.quorum_bootstrap import discover_voters
from kraft.raft.config import QuorumConfig
from kraft.raft.disk_log import DiskLog
from kraft.raft.driver import RaftNode
from kraft.raft.types import VoterNode
from kraft.security import listener as security
from kraft.security.access import Access
from kraft.storage_failure import find_storage_failure

if TYPE_CHECKING:
    from kraft.raft import bootstrap_checkpoint

log = logging.getLogger("kraft.node")

CONTROLLED_SHUTDOWN_TIMEOUT_S = 5.0
LOCK_FILE = ".lock"


def controller_registry(raft: RaftNode, controller: QuorumController) -> ApiRegistry:
    """What the controller listener serves: ApiVersions (with this controller's
    feature ranges and finalized levels), the raft RPCs (the raft driver's) and the
    controller-bound APIs (kraft/controller/apis)."""
    registry = ApiRegistry()

    def features() -> api_versions.Features:
        # As Kafka's controllers: what this controller supports and the finalized
        # levels of its committed image, kraft.version (raft's) included.
        image = controller.committed_image
        levels = {**image.features.levels, "kraft.version": raft.kraft_version}
        return api_versions.Features(
            supported=tuple((f.name, f.min_version, f.max_version) for f in SUPPORTED_FEATURES),
            finalized_epoch=max(image.provenance.offset, -1),
            finalized=tuple((name, level, level) for name, level in sorted(levels.items())
                            if level))

    api_versions.register(registry, features)
    sasl.register(registry)
    raft.register(registry)
    controller_apis.register(registry, controller)
    # Every API behind Kafka's ControllerApis check (kraft.controller.authorization).
    access = Access.from_config(controller.config, lambda: controller.committed_image.acls)
    return authorization.guard(registry, access, lambda: controller.committed_image)


class Node:
    """One process: raft member, loader, and the controller and/or broker roles."""

    def __init__(self, config: KafkaConfig) -> None:
        check_config(config)
        self.config = config
        self.node_id: int = config.node_id
        self.roles = set(config.process_roles)
        self.cluster_id = self._check_directories()
        self._recorded: list[bootstrap_checkpoint.Voter] = []  # kraft.version 1 (KIP-853)
        self.voters = self._voter_set()
        self.ready = trio.Event()
        self.bound: dict[str, tuple[str, int]] = {}
        self._stop = trio.Event()
        self.controller: QuorumController | None = None
        self.registration: ControllerRegistrationManager | None = None
        self.broker: BrokerServer | None = None
        self._client_servers: list[KafkaServer] = []

    def _check_directories(self) -> str:
        """Check every directory's meta.properties and lock it (Kafka's `.lock`),
        so two processes can never share a log dir. The locks are released
        when the process exits."""
        cluster_id: str | None = None
        self._locks: list[int] = []
        dynamic = "controller" in self.roles and not self.config.quorum_voters
        advice = meta_properties.DYNAMIC_FORMAT_ADVICE if dynamic else meta_properties.FORMAT_ADVICE
        if self.config.source:
            advice = advice.replace("FILE", self.config.source)
        for directory in dict.fromkeys([*self.config.log_dirs, self.config.metadata_log_dir]):
            meta = meta_properties.read(directory)
            meta_properties.check(directory, meta, cluster_id, self.node_id, advice=advice)
            assert meta is not None
            cluster_id = meta.cluster_id
            self._locks.append(_lock(Path(directory)))
        assert cluster_id is not None
        if "controller" in self.roles:
            try:  # a damaged bootstrap file stops the node now, not at first activation
                bootstrap.read(self.config.metadata_log_dir)
            except bootstrap.BootstrapError as e:
                raise meta_properties.MetaPropertiesError(str(e)) from None
        return cluster_id

    def _voter_set(self) -> dict[int, tuple[str, int]]:
        """The quorum's voters, {id: controller (host, port)}: controller.quorum.voters
        (kraft.version 0), else the set `kraft storage format --standalone` or
        `--initial-controllers` recorded in the bootstrap checkpoint (KIP-853:
        where the log starts; its latest VotersRecord is in force). Empty for a
        broker, or a controller formatted --no-initial-controllers, formatted
        without one: it asks controller.quorum.bootstrap.servers when it runs
        (kraft.quorum_bootstrap)."""
        config = self.config
        if config.quorum_voters:
            return config.quorum_voters
        # Read only for a dynamic quorum (KIP-853): loaded here, not at start-up.
        from kraft.raft import bootstrap_checkpoint

        metadata_dir = config.metadata_log_dir
        try:
            recorded = bootstrap_checkpoint.read(metadata_dir)
        except bootstrap_checkpoint.BootstrapCheckpointError as e:
            raise ConfigError(str(e)) from None
        if recorded is None and ("controller" not in self.roles
                                 or config.quorum_bootstrap_servers):
            # A broker, or a controller formatted --no-initial-controllers that joins
            # as an observer until added (AddRaftVoter): it asks
            # controller.quorum.bootstrap.servers (run).
            return {}
        if recorded is None:
            raise ConfigError(
                f"{metadata_dir} holds no voter set (formatted with --no-initial-controllers, "
                "or with kraft format) and controller.quorum.bootstrap.servers is not set: "
                "set it to join a dynamic quorum, or set controller.quorum.voters")
        mine = next((v for v in recorded if v.node_id == self.node_id), None)
        if "controller" in self.roles and mine is None:
            raise ConfigError(
                f"node {self.node_id} is not in the voter set recorded at format "
                f"({', '.join(map(str, recorded))}): adding a controller "
                "(kafka-metadata-quorum add-controller) is not supported yet")
        if mine is not None:
            meta = meta_properties.read(metadata_dir)
            if meta is not None and meta.directory_id != mine.directory_id:
                raise ConfigError(
                    f"{metadata_dir} has directory.id {meta.directory_id}, but the voter set "
                    f"records node {self.node_id} with directory id {mine.directory_id}: "
                    "the directory was formatted again, and a voter that lost its log must "
                    "not vote (KIP-853)")
        self._recorded = recorded
        return {v.node_id: (v.host, v.port) for v in recorded}

    def _local_listeners(self) -> tuple[tuple[str, str, int], ...]:
        """This controller's endpoint as the voter set should record it (KIP-853; a
        voter whose entry differs gets it updated): its controller listener,
        advertised as `kraft storage format` records it. Empty for a broker, or a
        listener on an ephemeral port (unknown until bound)."""
        if "controller" not in self.roles:
            return ()
        name = self.config.controller_listener_names[0]
        advertised = self.config.listeners("advertised.listeners")
        host, port = advertised.get(name) or self.config.listeners()[name]
        return ((name, host or socket.getfqdn(), port),) if port else ()

    def _directory_id(self) -> str | None:
        meta = meta_properties.read(self.config.metadata_log_dir)
        return None if meta is None else meta.directory_id

    def _dynamic_quorum(self, quorum: QuorumConfig) -> QuorumConfig:
        """kraft.version 1 (KIP-853): the set format recorded is where the log
        starts; the latest VotersRecord in the log is in force."""
        return dataclasses.replace(
            quorum, kraft_version=1, directory_id=self._directory_id(),
            voter_nodes=tuple(
                VoterNode(v.node_id, v.directory_id, ((v.listener, v.host, v.port),))
                for v in sorted(self._recorded, key=lambda v: v.node_id)))

    async def _discover_voters(self, client: KafkaClient) -> dict[int, tuple[str, int]] | None:
        """The voters, asked of controller.quorum.bootstrap.servers (a broker formatted
        without a voter set); None if the node is stopped first."""
        found: list[dict[int, tuple[str, int]]] = []
        async with trio.open_nursery() as nursery:
            async def discover() -> None:
                found.append(await discover_voters(client, self.config.quorum_bootstrap_servers,
                                                   self.node_id))
                nursery.cancel_scope.cancel()

            async def stopped() -> None:
                await self._stop.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(discover)
            nursery.start_soon(stopped)
        return found[0] if found else None

    def stop(self) -> None:
        """Begin a graceful shutdown; `run` returns when it is done."""
        self._stop.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        voters = self.voters
        # A broker that will discover its voters starts from a placeholder set.
        quorum = QuorumConfig.from_properties(self.node_id, tuple(sorted(voters)) or (-1,),
                                              config.raw)
        quorum = dataclasses.replace(quorum, cluster_id=self.cluster_id,
                                     local_listeners=self._local_listeners())
        raft_log = DiskLog(config.metadata_log_dir, config.metadata_log_segment_bytes)
        raft: RaftNode | None = None
        try:
            # Forwarded client requests get connections of their own (Kafka's separate
            # "forwarding" channel): another request timing out on a shared connection
            # would close it under them, leaving their outcome unknown.
            # Heartbeats get a connection of their own too: the controller fences a
            # broker soon after it closes (kraft.controller.heartbeats).
            to_controllers = security.controller_client_security(config)
            async with KafkaClient(f"kraft-node-{self.node_id}",
                                   security=to_controllers) as client, \
                    KafkaClient(f"kraft-forward-{self.node_id}",
                                security=to_controllers) as forward_client, \
                    KafkaClient(f"kraft-heartbeat-{self.node_id}",
                                security=to_controllers) as heartbeat_client, \
                    trio.open_nursery() as nursery:
                if not voters:
                    discovered = await self._discover_voters(client)
                    if discovered is None:  # stopped while waiting for the controllers
                        task_status.started()
                        return
                    voters = discovered
                    quorum = dataclasses.replace(quorum, voters=tuple(sorted(voters)))
                    if "controller" in self.roles:
                        # Formatted --no-initial-controllers: an observer of the
                        # dynamic quorum (kraft.version 1) until AddRaftVoter.
                        quorum = dataclasses.replace(
                            quorum, voters=(), kraft_version=1,
                            bootstrap_servers=tuple(sorted(voters)),
                            directory_id=self._directory_id())
                elif self._recorded:
                    quorum = self._dynamic_quorum(quorum)
                raft = await self._start(nursery, (client, forward_client, heartbeat_client),
                                         quorum, raft_log, voters)
                task_status.started()
                await self._stop.wait()
                await self._shutdown(raft)
                nursery.cancel_scope.cancel()
        finally:
            raft_log.close()

    async def _start(
        self,
        nursery: trio.Nursery,
        clients: tuple[KafkaClient, KafkaClient, KafkaClient],
        quorum: QuorumConfig,
        raft_log: DiskLog,
        voters: dict[int, tuple[str, int]],
    ) -> RaftNode:
        config = self.config
        client, forward_client, heartbeat_client = clients
        loader_hwm: list[RaftNode] = []
        loader = MetadataLoader(raft_log, lambda: loader_hwm[0].high_watermark, self.node_id)
        raft = RaftNode(quorum, raft_log, raft_log.dir, voters, loader, rng=random.Random(),
                        client_security=security.controller_client_security(config))
        loader_hwm.append(raft)
        loader.snapshot_created = raft.snapshot_created_nowait
        controller_name = config.controller_listener_names[0]
        if "controller" in self.roles:
            self.controller = QuorumController(config, self.cluster_id, raft)
            loader.add_publisher(self.controller)
            registry = controller_registry(raft, self.controller)
            host, port = config.listeners()[controller_name]
            server = KafkaServer(
                registry, listener_name=controller_name,
                max_frame_bytes=config.socket_request_max_bytes,
                connections_max_idle_ms=config.connections_max_idle_ms,
                is_fatal=_is_storage_failure,
                security=security.server_security(config, controller_name),
            )
            bound = await nursery.start(server.serve, host or "0.0.0.0", port)
            self.bound[controller_name] = bound[0]
            self.registration = self._registration_manager(
                ControllerChannel(client, voters, lambda: raft.leader, raft.wait_leader_change,
                                  node_id=self.node_id,
                                  attempt_timeout_s=config.controller_quorum_request_timeout_ms
                                  / 1000,
                                  current_voters=lambda: raft.voter_addresses),
                Listener(controller_name, host, port))
            loader.add_publisher(self.registration)
        if "broker" in self.roles:
            channel = ControllerChannel(
                client, voters, lambda: raft.leader, raft.wait_leader_change,
                node_id=self.node_id, forward_client=forward_client,
                heartbeat_client=heartbeat_client,
                attempt_timeout_s=config.controller_quorum_request_timeout_ms / 1000,
                current_voters=lambda: raft.voter_addresses,
            )
            listeners = client_listeners(config)
            self.broker = BrokerServer(config, self.cluster_id, channel, [],
                                       lambda: loader.offset)
            loader.add_publisher(self.broker)
            for listener in listeners:
                server = KafkaServer(
                    self.broker.registry, listener_name=listener.name,
                    max_frame_bytes=config.socket_request_max_bytes,
                    max_connections=config.max_connections,
                    connections_max_idle_ms=config.connections_max_idle_ms,
                    is_fatal=_is_storage_failure,
                    security=security.server_security(config, listener.name,
                                                      self.broker.scram_credential),
                )
                # Bound now, accepting once unfenced (Kafka's order): until then a
                # Metadata answer would list no live broker, and librdkafka, told
                # that, drops its bootstrap broker for good.
                bound = await nursery.start(functools.partial(
                    server.serve, listener.host or "0.0.0.0", listener.port,
                    accept_after=self.broker.lifecycle.unfenced))
                self.bound[listener.name] = bound[0]
                self._client_servers.append(server)
            advertised = self._advertised(listeners)
            self.broker.advertised = advertised
            self.broker.lifecycle.listeners = advertised
        await nursery.start(raft.run)
        if self.controller is not None:
            await nursery.start(self.controller.run)
        if self.registration is not None:
            nursery.start_soon(self.registration.run)
        if self.broker is not None:
            await self.broker.run(nursery)
            nursery.start_soon(self._ready_when_unfenced, self.broker)
        else:
            self.ready.set()
        return raft

    def _registration_manager(self, channel: ControllerChannel,
                              listener: Listener) -> ControllerRegistrationManager:
        """KIP-919: this controller registers its controller listener (advertised as
        the client listeners are) through `channel`."""
        ((name, host, port),) = self._advertised([listener])

        async def send(request: object, timeout_s: float) -> object | None:
            try:
                return await channel.send(request, timeout_s)
            except ControllerUnavailable:
                return None

        return ControllerRegistrationManager(
            self.node_id,
            (RegisteredListener(name, host, port, security.security_protocol(self.config, name)),),
            SUPPORTED_FEATURES, send)

    def _advertised(self, listeners: list[Listener]) -> list[tuple[str, str, int]]:
        """advertised.listeners, else the listeners with their bound ports and a
        usable host (Kafka advertises the canonical host name for an empty host)."""
        configured = self.config.listeners("advertised.listeners")
        out = []
        for listener in listeners:
            if listener.name in configured:
                host, port = configured[listener.name]
            else:
                host, port = listener.host, self.bound[listener.name][1]
            out.append((listener.name, host or socket.getfqdn(), port))
        return out

    async def _ready_when_unfenced(self, broker: BrokerServer) -> None:
        await broker.lifecycle.unfenced.wait()
        self.ready.set()

    async def _shutdown(self, raft: RaftNode) -> None:
        log.info("node %d: shutting down", self.node_id)
        started = trio.current_time()
        shutdown_log.begin(self.node_id)  # its steps at DEBUG (kraft/shutdown_log.py)
        try:
            if self.broker is not None:
                with trio.move_on_after(CONTROLLED_SHUTDOWN_TIMEOUT_S + 1):
                    await self.broker.shutdown(CONTROLLED_SHUTDOWN_TIMEOUT_S,
                                               stop_serving=self._stop_client_listeners)
            await raft.shutdown()
        finally:
            shutdown_log.end(self.node_id)
        log.info("node %d: stopped (shut down in %.2f s)", self.node_id,
                 trio.current_time() - started)

    def _stop_client_listeners(self) -> None:
        for server in self._client_servers:
            server.stop()


def _lock(directory: Path) -> int:
    """Hold an exclusive lock on `directory/.lock` until the process exits."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise meta_properties.MetaPropertiesError(
            f"{directory} is in use by another kraft process (its {LOCK_FILE} is locked)"
        ) from None
    return fd


def _is_storage_failure(exc: BaseException) -> bool:
    """For net.server: a failing disk, also inside an exception group."""
    return find_storage_failure(exc) is not None
