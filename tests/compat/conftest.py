"""Fixtures of the compat tier: Kafka from Maven, a kraft dev node and a three-node cluster.

Every test here needs java and mvn. Without them the tier is skipped with one
line saying so, except in CI (CI=true), where that is a failure: CI must run
the tier. The dev node and the cluster are shared by the whole session (each
test uses topic and group names of its own), and stopped at its end, also
when tests fail.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.tools.local_cluster import LocalCluster
from tests.compat.kafka_dist import KafkaDist, KafkaDistError, ensure, missing_tools
from tests.integration.dev import DevNode

TOOL_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def kafka() -> KafkaDist:
    """Kafka's artifacts and the compiled compat programs (see kafka_dist.py)."""
    why = missing_tools()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the compat tier, but {why}")
        pytest.skip(f"compat tier skipped: {why}")
    try:
        return ensure()
    except KafkaDistError as exc:
        pytest.fail(str(exc))


@dataclasses.dataclass(frozen=True)
class Target:
    """A running kraft to test against: its bootstrap servers and broker count."""

    name: str
    bootstrap: str
    brokers: int
    cluster_id: str
    controllers: str  # host:port of the controller listeners, comma-separated


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One `kraft dev` node for the whole compat tier."""
    root = tmp_path_factory.mktemp("compat-dev")
    node = DevNode(root / "data", root / "logs")
    try:
        node.start()
        cluster_id = node.ready_line.split("cluster ", 1)[1].split(",", 1)[0]
        yield Target("dev", node.bootstrap, 1, cluster_id,
                     f"127.0.0.1:{node.controller_port}")
    finally:
        node.close()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A three-node kraft cluster (every node broker and controller) for the whole tier.

    auto.leader.rebalance.enable=false: the leader-election checks move
    leadership away from the preferred replica and elect it back themselves;
    an automatic rebalance in between would race them."""
    root = tmp_path_factory.mktemp("compat-cluster")
    with LocalCluster(root, ports=LocalCluster.free_ports(),
                      overrides={"auto.leader.rebalance.enable": "false"}) as local:
        local.start()
        cluster_id = local.cluster_id
        assert cluster_id is not None
        controllers = ",".join(f"{h}:{p}" for h, p in
                               (local.controller_address(n) for n in local.ids))
        yield Target("cluster", local.bootstrap, len(local.ids), cluster_id, controllers)


@pytest.fixture(params=["dev", "cluster"])
def target(request: pytest.FixtureRequest) -> Target:
    """Each test using it runs once against the dev node and once against the cluster."""
    return request.getfixturevalue(request.param)


def unique(base: str) -> str:
    """A topic or group name no other test uses."""
    return f"{base}-{uuid.uuid4().hex[:8]}"


def run_tool(kafka: KafkaDist, name: str, *args: str, input: str | None = None,
             expect_exit: int | None = 0, timeout: float = TOOL_TIMEOUT_S,
             ) -> subprocess.CompletedProcess[str]:
    """Run Kafka's tool `name` (e.g. "kafka-topics") with `args`; fail the test with
    its output unless it exits with `expect_exit` (None: any exit status)."""
    cmd = kafka.tool(name, *args)
    result = subprocess.run(cmd, input=input, text=True, capture_output=True, timeout=timeout,
                            stdin=None if input is not None else subprocess.DEVNULL)
    if expect_exit is not None and result.returncode != expect_exit:
        pytest.fail(f"{name} {' '.join(args)} exited {result.returncode}, expected "
                    f"{expect_exit}\n--- stdout\n{result.stdout[-4000:]}\n"
                    f"--- stderr\n{result.stderr[-4000:]}")
    return result


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
