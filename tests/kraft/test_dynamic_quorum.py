"""A dynamic controller quorum with real processes (KIP-853): from one controller
to three and back to two, with `kraft metadata-quorum add-controller` and
`remove-controller`, while the metadata log keeps committing; the controllers
register (KIP-919) and a voter restarted on another port updates its entry."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from kio.schema.api_versions.v4.request import ApiVersionsRequest
from kio.schema.describe_cluster.v1.request import DescribeClusterRequest
from kio.static.primitive import i8

from kraft import meta_properties
from kraft.net.client import KafkaClient
from tests.kraft.test_cli import KRAFT, kraft
from tests.kraft.test_storage_tool import CLUSTER_ID, quickstart, storage, wait_ready
from tests.ports import free_port

CHANGE_DEADLINE_S = 60


def controller_config(root: Path, node_id: int, port: int, bootstrap: int) -> Path:
    d = root / f"node{node_id}"
    d.mkdir()
    return quickstart(d, roles="controller", listeners=f"CONTROLLER://:{port}", **{
        "node.id": str(node_id),
        "advertised.listeners": f"CONTROLLER://localhost:{port}",
        "controller.quorum.bootstrap.servers": f"localhost:{bootstrap}",
        "inter.broker.listener.name": None})


def status(bootstrap: str) -> dict[str, Any]:
    result = kraft("metadata-quorum", "--bootstrap-controller", bootstrap, "describe",
                   "--status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def voter_ids(bootstrap: str) -> list[int]:
    return sorted(v["id"] for v in status(bootstrap)["currentVoters"])


def registered_controllers(bootstrap: str, expected: dict[int, int]) -> dict[int, int]:
    """{controller id: port} from DescribeCluster for controllers (KIP-919), asked until
    it is `expected` (or the deadline)."""
    host, port = bootstrap.rsplit(":", 1)
    request = DescribeClusterRequest(include_cluster_authorized_operations=False,
                                     endpoint_type=i8(2))

    async def ask() -> dict[int, int]:
        found: dict[int, int] = {}
        async with KafkaClient("test") as client:
            with trio.move_on_after(CHANGE_DEADLINE_S):
                while found != expected:
                    answer = await client.request((host, int(port)), request, timeout=10)
                    found = {b.broker_id: b.port for b in answer.brokers}
                    await trio.sleep(0.05)
        return found

    return trio.run(ask)


def controller_features(bootstrap: str) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """({feature: (min, max) supported}, {feature: finalized level}) from a
    controller's ApiVersions v4 (v3 leaves out features whose minimum is 0)."""
    host, port = bootstrap.rsplit(":", 1)

    async def ask() -> Any:
        async with KafkaClient("test") as client:
            return await client.request((host, int(port)), ApiVersionsRequest(
                client_software_name="test", client_software_version="1"), timeout=10)

    answer = trio.run(ask)
    return ({f.name: (f.min_version, f.max_version) for f in answer.supported_features},
            {f.name: f.max_version_level for f in answer.finalized_features})


def voter_endpoints(bootstrap: str, node_id: int, expected: list[str]) -> list[str]:
    """Node `node_id`'s endpoints in DescribeQuorum, asked until they are `expected`
    (or the deadline)."""
    deadline = time.monotonic() + CHANGE_DEADLINE_S
    while True:
        found = next((v["endpoints"] for v in status(bootstrap)["currentVoters"]
                      if v["id"] == node_id), [])
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def start(config: Path, log_name: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = config.parent / log_name
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([*KRAFT, "start", str(config)], stdout=stdout,
                                stderr=subprocess.STDOUT)
    wait_ready(proc, out)
    return proc, out


def change(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a voter change, retrying while the leader answers that the new controller is
    still catching up or a previous change is still committing (Kafka's REQUEST_TIMED_OUT)."""
    deadline = time.monotonic() + CHANGE_DEADLINE_S
    while True:
        result = kraft("metadata-quorum", "--bootstrap-controller", bootstrap, *args)
        if result.returncode == 0 or "REQUEST_TIMED_OUT" not in result.stderr:
            return result
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.2)


@pytest.mark.slow
def test_one_controller_to_three_and_back_to_two(tmp_path: Path) -> None:
    """A controller formatted --standalone, two formatted --no-initial-controllers that
    join as observers: every one registers (KIP-919, DescribeCluster on a controller
    lists them, the metadata log holds their RegisterControllerRecords);
    add-controller makes each a voter (Kafka's output line); a voter restarted on
    another port gets its entry in the voter set updated and registers again; adding
    one twice is DUPLICATE_VOTER, remove-controller takes one out, and the high
    watermark keeps moving with every change (the metadata log commits)."""
    ports = {n: free_port() for n in (1, 2, 3)}
    configs = {n: controller_config(tmp_path, n, port, ports[1]) for n, port in ports.items()}
    first = storage("format", "-t", CLUSTER_ID, "-c", str(configs[1]), "-s")
    assert first.returncode == 0, first.stderr
    for n in (2, 3):
        joined = storage("format", "-t", CLUSTER_ID, "-c", str(configs[n]), "-N")
        assert joined.returncode == 0, joined.stderr
    bootstrap = f"localhost:{ports[1]}"
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for n in (1, 2, 3):
            out = configs[n].parent / "stdout.log"
            with open(out, "wb") as stdout:
                procs.append((subprocess.Popen([*KRAFT, "start", str(configs[n])],
                                               stdout=stdout, stderr=subprocess.STDOUT), out))
        for proc, out in procs:
            wait_ready(proc, out)
        assert voter_ids(bootstrap) == [1]
        # Every controller registers (KIP-919), observers too, with its listener.
        assert registered_controllers(bootstrap, ports) == ports
        # The controller listener's ApiVersions carries the controller's features.
        supported, finalized = controller_features(bootstrap)
        assert supported["kraft.version"] == (0, 1) and finalized["kraft.version"] == 1
        assert finalized["metadata.version"] == supported["metadata.version"][1]
        hwm = status(bootstrap)["highWatermark"]
        directory = {}
        for n in (2, 3):
            meta = meta_properties.read(configs[n].parent / "logs1")
            assert meta is not None
            directory[n] = meta.directory_id
            # Kafka's place for --command-config (before the sub-command) for node 2,
            # after it for node 3.
            where = (["--command-config", str(configs[n]), "add-controller"] if n == 2
                     else ["add-controller", "--command-config", str(configs[n])])
            added = change(bootstrap, *where)
            assert added.returncode == 0, added.stderr
            assert added.stdout.strip() == (
                f"Added controller {n} with directory id {directory[n]} and endpoints: "
                f"CONTROLLER://localhost:{ports[n]}")
        assert voter_ids(bootstrap) == [1, 2, 3]
        # Voter 3 restarted on another port: it registers again (a new incarnation)
        # and, as a follower, sends UpdateRaftVoter, so the voter set names the new
        # endpoint (KIP-853).
        proc3 = procs.pop()[0]
        proc3.send_signal(signal.SIGTERM)
        assert proc3.wait(60) == 0
        moved = free_port()
        # A shorter fetch timeout shortens its update period (three fetch timeouts).
        configs[3].write_text(configs[3].read_text().replace(f":{ports[3]}", f":{moved}")
                              + "controller.quorum.fetch.timeout.ms=1000\n")
        procs.append(start(configs[3], "restarted.log"))
        assert voter_endpoints(bootstrap, 3, [f"CONTROLLER://localhost:{moved}"]) == [
            f"CONTROLLER://localhost:{moved}"]
        assert registered_controllers(bootstrap, {**ports, 3: moved}) == {**ports, 3: moved}
        assert voter_ids(bootstrap) == [1, 2, 3]
        again = change(bootstrap, "add-controller", "--command-config", str(configs[2]))
        assert again.returncode == 1 and "DUPLICATE_VOTER" in again.stderr
        removed = change(bootstrap, "remove-controller", "--controller-id", "2",
                         "--controller-directory-id", directory[2])
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.strip() == (
            f"Removed KRaft controller 2 with directory id {directory[2]}")
        after = status(bootstrap)
        assert sorted(v["id"] for v in after["currentVoters"]) == [1, 3]
        assert after["highWatermark"] > hwm
        assert 2 in [o["id"] for o in after["currentObservers"]]
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(60) for proc, _ in procs] == [0, 0, 0]
        dump = kraft("metadata", "dump", str(configs[1].parent / "logs1"), "--json")
        assert dump.returncode == 0, dump.stderr
        registered = [json.loads(line) for line in dump.stdout.splitlines()
                      if "RegisterControllerRecord" in line]
        assert {r["record"]["controller_id"] for r in registered} == {1, 2, 3}, registered
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
