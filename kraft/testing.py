"""Real kraft brokers for tests: `Broker` (one node) and `Cluster` (several).

Both run nodes as separate processes on free loopback ports, with real
replication, and are context managers:

    with kraft.testing.Broker() as broker:
        topic = broker.new_topic("orders", partitions=3)
        produce_somehow(broker.bootstrap_servers, topic)

    with kraft.testing.Cluster(3) as cluster:
        cluster.create_topic("events", partitions=1, replication_factor=3)
        cluster.kill(cluster.leader_of("events", 0))

The pytest plugin (kraft.pytest_plugin, installed with kraft) offers them as
the session-scoped fixtures `kraft_broker` and `kraft_cluster`.

Contracts:
- `start()` (or entering the `with`) returns once clients can produce: the
  broker(s) are registered and unfenced.
- Cleanup: leaving the `with` (also by an exception or Ctrl-C) or `close()`
  kills every process this object started and removes its temporary
  directory. The nodes also die with the process that started them (Linux
  PR_SET_PDEATHSIG), so a test run that is itself killed leaves no broker
  behind; the directory it left is removed by the next Broker or Cluster
  (each temporary directory names its owner's pid in `owner.pid`).
  PR_SET_PDEATHSIG fires when the *thread* that started a child exits, so
  every process is started from one worker thread that each Broker or
  Cluster keeps until `close()`.
- `keep_data=True` (or KRAFT_TESTING_KEEP_DATA=1) keeps the directory, data
  and node logs for a post-mortem, and says where.
- Admin helpers (`create_topic`, `leader_of`) are plain blocking calls that
  speak the Kafka protocol themselves; they work from synchronous tests and
  from inside an asyncio or trio test alike (they run in a worker thread).
- Defaults differ from a production broker only where tests need it:
  replication factors of internal topics fit the node count, and
  group.initial.rebalance.delay.ms is 0 so a consumer group forms at once.
  `overrides` sets any server.properties key.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["Broker", "Cluster", "KraftTestingError"]

T = TypeVar("T")

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
KEEP_DATA_ENV = "KRAFT_TESTING_KEEP_DATA"
OWNER_FILE = "owner.pid"
_READY = re.compile(r"ready: bootstrap\.servers=(\S+)")
_names = itertools.count(1)


class KraftTestingError(Exception):
    """A broker could not be started, or an admin request failed."""


def _keep_data(keep_data: bool | None) -> bool:
    if keep_data is not None:
        return keep_data
    return os.environ.get(KEEP_DATA_ENV, "").lower() in ("1", "true", "yes")


def _blocking(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async trio function to completion from synchronous code, in a
    worker thread so that a caller already inside an event loop is not affected."""
    import trio

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kraft-testing") as pool:
        return pool.submit(trio.run, fn).result()


class _Worker:
    """One long-lived thread that starts (and so parents) an object's processes."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kraft-testing-nodes")

    def call(self, fn: Callable[[], T]) -> T:
        return self._pool.submit(fn).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class _Admin:
    """The admin calls both Broker and Cluster offer, over the Kafka protocol."""

    bootstrap_servers: str

    def _addresses(self) -> list[tuple[str, int]]:
        out = []
        for item in self.bootstrap_servers.split(","):
            host, _, port = item.rpartition(":")
            out.append((host, int(port)))
        return out

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = 1,
        config: Mapping[str, str] | None = None,
    ) -> str:
        """Create topic `name` and return it once every partition has a leader.
        Raises KraftTestingError with Kafka's error if the broker refuses it."""
        _blocking(lambda: _create_topic(self._addresses(), name, partitions, replication_factor,
                                        dict(config or {})))
        return name

    def new_topic(
        self,
        prefix: str = "topic",
        partitions: int = 1,
        replication_factor: int = 1,
        config: Mapping[str, str] | None = None,
    ) -> str:
        """Create a topic with a fresh, unique name starting with `prefix` and return the name."""
        name = f"{prefix}-{next(_names)}-{uuid.uuid4().hex[:8]}"
        return self.create_topic(name, partitions, replication_factor, config)

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node id leading `topic`-`partition` now, as the brokers' metadata says."""
        return _blocking(lambda: _leader_of(self._addresses(), topic, partition))


class Broker(_Admin):
    """One kraft node with both roles (`kraft dev`) in its own process; see the module doc."""

    def __init__(
        self,
        *,
        overrides: Mapping[str, str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        keep_data: bool | None = None,
        log_level: str = "INFO",
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self.overrides = {"group.initial.rebalance.delay.ms": "0", **(overrides or {})}
        self.keep_data = _keep_data(keep_data)
        self._own_dir = data_dir is None
        self.root = (_temporary_root("kraft-testing-") if data_dir is None
                     else Path(data_dir).resolve())
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.bootstrap_servers = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._worker = _Worker()

    @property
    def log_path(self) -> Path:
        """The node's stdout and stderr."""
        return self.root / "node.log"

    def start(self) -> Broker:
        """Start the node (formatting its data directory on first use) and return
        once a client can produce. Raises KraftTestingError with the node's log tail."""
        self._worker.call(self._start)
        return self

    def _start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise KraftTestingError(f"broker already running (pid {self.proc.pid})")
        from kraft.tools.local_cluster import LocalCluster, die_with_parent

        for _attempt in range(3):  # the controller port is picked before the node binds it
            _client_port, controller_port = LocalCluster.free_ports(1)[1]
            cmd = [sys.executable, "-m", "kraft.cli", "dev", "--port", "0",
                   "--controller-port", str(controller_port), "--data-dir",
                   str(self.root / "data"), "--log-level", self.log_level]
            for key, value in self.overrides.items():
                cmd += ["--override", f"{key}={value}"]
            self.root.mkdir(parents=True, exist_ok=True)
            mark = self.log_path.stat().st_size if self.log_path.exists() else 0
            with open(self.log_path, "ab") as out:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT,
                                             preexec_fn=die_with_parent)
            ready = self._await_ready(mark)
            if ready is not None:
                self.bootstrap_servers = ready
                return
            if "in use" not in self._log_since(mark):
                break
        raise KraftTestingError(f"kraft broker did not start:\n{self._log_since(mark)[-3000:]}")

    def _await_ready(self, mark: int) -> str | None:
        """The bootstrap address from the node's ready line; None if it exited."""
        deadline = time.monotonic() + self.start_timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            found = _READY.search(self._log_since(mark))
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                return None
            time.sleep(0.02)
        self._kill()
        raise KraftTestingError(f"kraft broker not ready in {self.start_timeout:.0f} s:\n"
                                f"{self._log_since(mark)[-3000:]}")

    def _log_since(self, mark: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGTERM), killing the node if it takes longer than `timeout`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Kill the node and remove its directory (kept with keep_data, and said so)."""
        self._kill()
        self._worker.close()
        _remove_or_keep(self.root, self.keep_data or not self._own_dir)

    def __enter__(self) -> Broker:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Cluster(_Admin):
    """`nodes` kraft nodes, each broker and controller, one quorum; see the module doc."""

    def __init__(
        self,
        nodes: int = 3,
        *,
        overrides: Mapping[str, str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        keep_data: bool | None = None,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        from kraft.tools.local_cluster import LocalCluster

        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        rf = str(min(3, nodes))
        defaults = {"group.initial.rebalance.delay.ms": "0",
                    "offsets.topic.replication.factor": rf,
                    "default.replication.factor": "1"}
        self.keep_data = _keep_data(keep_data)
        self._own_dir = data_dir is None
        self.root = (_temporary_root("kraft-testing-cluster-") if data_dir is None
                     else Path(data_dir).resolve())
        self.start_timeout = start_timeout
        self._cluster = LocalCluster(self.root, nodes=nodes, ports=LocalCluster.free_ports(nodes),
                                     overrides={**defaults, **(overrides or {})},
                                     die_with_parent=True)
        self.bootstrap_servers = self._cluster.bootstrap
        self._worker = _Worker()

    @property
    def nodes(self) -> list[int]:
        """The node ids, 1..n."""
        return list(self._cluster.ids)

    def log_path(self, node_id: int) -> Path:
        """Node `node_id`'s stdout and stderr, appended across restarts."""
        return self._cluster.log_path(node_id)

    def start(self) -> Cluster:
        """Start every node and return once all brokers are unfenced."""
        self._call(lambda: self._cluster.start(self.start_timeout))
        return self

    def kill(self, node_id: int) -> None:
        """kill -9 node `node_id` and wait until it is gone."""
        self._call(lambda: self._cluster.kill(node_id))

    def restart(self, node_id: int) -> None:
        """Start node `node_id` again (stopping it gracefully first if it runs) and
        wait until its broker is unfenced."""
        self._call(lambda: self._cluster.restart(node_id, self.start_timeout))

    def pause(self, node_id: int) -> None:
        """SIGSTOP node `node_id`: it keeps its sockets but does nothing."""
        self._call(lambda: self._cluster.pause(node_id))

    def resume(self, node_id: int) -> None:
        """SIGCONT node `node_id` after `pause`."""
        self._call(lambda: self._cluster.resume(node_id))

    def _call(self, action: Callable[[], None]) -> None:
        from kraft.tools.local_cluster import ClusterError

        try:
            self._worker.call(action)
        except ClusterError as e:
            raise KraftTestingError(str(e)) from None

    def close(self) -> None:
        """Kill every node and remove the directory (kept with keep_data, and said so)."""
        self._cluster.close()
        self._worker.close()
        _remove_or_keep(self.root, self.keep_data or not self._own_dir)

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _temporary_root(prefix: str) -> Path:
    """A new temporary directory owned by this process; removes the ones left by
    processes that died before they could clean up (not those kept on purpose)."""
    base = Path(tempfile.gettempdir())
    for stale in base.glob("kraft-testing-*"):
        owner = stale / OWNER_FILE
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if not _alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
    (root / OWNER_FILE).write_text(f"{os.getpid()}\n")
    return root


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_or_keep(root: Path, keep: bool) -> None:
    if keep:
        (root / OWNER_FILE).unlink(missing_ok=True)  # kept on purpose: never swept
        print(f"kraft.testing: data and logs kept in {root}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)


# --- the admin requests ------------------------------------------------------------------


async def _create_topic(addresses: list[tuple[str, int]], name: str, partitions: int,
                        replication_factor: int, config: dict[str, str]) -> None:
    from kio.schema.create_topics.v7 import request as req
    from kio.schema.errors import ErrorCode
    from kio.schema.types import TopicName
    from kio.static.primitive import i16, i32, i32Timedelta

    request = req.CreateTopicsRequest(
        topics=(req.CreatableTopic(
            name=TopicName(name), num_partitions=i32(partitions),
            replication_factor=i16(replication_factor),
            assignments=(), configs=tuple(req.CreatableTopicConfig(name=k, value=v)
                                          for k, v in config.items())),),
        timeout=i32Timedelta.parse(timedelta(seconds=REQUEST_TIMEOUT_S)),
        validate_only=False,
    )
    response = await _request(addresses, request)
    result = response.topics[0]
    if result.error_code != ErrorCode.none:
        raise KraftTestingError(f"create topic {name}: {result.error_code.name.upper()}"
                                f"{': ' + result.error_message if result.error_message else ''}")
    await _until(addresses, lambda meta: _all_led(meta, name, partitions),
                 f"topic {name} has no leader for every partition")


async def _leader_of(addresses: list[tuple[str, int]], topic: str, partition: int) -> int:
    leaders: list[int] = []

    def found(meta: Any) -> bool:
        for t in meta.topics:
            if t.name == topic:
                for p in t.partitions:
                    if p.partition_index == partition and p.leader_id >= 0:
                        leaders.append(p.leader_id)
                        return True
        return False

    await _until(addresses, found, f"{topic}-{partition} has no leader")
    return leaders[-1]


def _all_led(meta: Any, name: str, partitions: int) -> bool:
    for t in meta.topics:
        if t.name == name:
            led = [p for p in t.partitions if p.leader_id >= 0]
            return len(led) == partitions
    return False


async def _until(addresses: list[tuple[str, int]], done: Callable[[Any], bool], what: str) -> None:
    """Ask Metadata until `done(response)`; KraftTestingError after the request timeout."""
    import trio
    from kio.schema.metadata.v12 import request as req

    deadline = trio.current_time() + REQUEST_TIMEOUT_S
    while True:
        request = req.MetadataRequest(topics=None, allow_auto_topic_creation=False,
                                      include_topic_authorized_operations=False)
        if done(await _request(addresses, request)):
            return
        if trio.current_time() > deadline:
            raise KraftTestingError(f"{what} after {REQUEST_TIMEOUT_S:.0f} s")
        await trio.sleep(0.05)


async def _request(addresses: list[tuple[str, int]], request: Any) -> Any:
    """Send `request` to the first address that answers."""
    from kraft.net.client import ConnectionFailed, KafkaClient

    errors = []
    async with KafkaClient("kraft-testing") as client:
        for address in addresses:
            try:
                return await client.request(address, request, REQUEST_TIMEOUT_S + 5)
            except ConnectionFailed as e:
                errors.append(str(e))
    raise KraftTestingError(f"no broker answered: {'; '.join(errors)}")
