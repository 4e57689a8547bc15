"""`kraft cluster cluster-id|unregister` (Kafka's kafka-cluster) against real nodes:
the cluster id through brokers and controllers, a broker that is not registered told
in one line, and a stopped broker of a three-node cluster unregistered (its
partitions led elsewhere, a second unregister finds it gone). Clusters are closed in
`finally`, also when a test fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.tools.local_cluster import LocalCluster
from tests.integration.dev import DevNode
from tests.kraft.test_cli import kraft, one_line
from tests.kraft.test_metadata_quorum_tool import cluster_id, node  # noqa: F401 (fixture)


@pytest.mark.parametrize("via", ["--bootstrap-server", "--bootstrap-controller"])
def test_cluster_id_and_unknown_broker(via: str, node: DevNode) -> None:  # noqa: F811
    """cluster-id prints Kafka's "Cluster ID: X"; unregistering a broker id nobody
    registered is BROKER_ID_NOT_REGISTERED with the controller's message, exit 1."""
    address = node.bootstrap if via == "--bootstrap-server" else \
        f"127.0.0.1:{node.controller_port}"
    shown = kraft("cluster", via, address, "cluster-id")
    assert shown.returncode == 0 and shown.stdout == f"Cluster ID: {cluster_id(node)}\n"
    unknown = kraft("cluster", via, address, "unregister", "--id", "7")
    assert unknown.returncode == 1
    assert one_line(unknown.stderr) == ("BROKER_ID_NOT_REGISTERED: Broker ID 7 is not "
                                        "currently registered")


@pytest.mark.slow
def test_unregister_a_stopped_broker(tmp_path: Path) -> None:
    """A broker stopped for good is unregistered through a broker (forwarded to the
    active controller): the tool says so, the partition it led gets another leader, and
    unregistering it again finds it not registered."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports()) as local:
        local.start()
        admin = AdminClient({"bootstrap.servers": local.bootstrap})
        admin.create_topics([NewTopic("moved", 1, replica_assignment=[[3, 1]])])["moved"] \
            .result(30)
        local.stop_node(3)
        bootstrap = "{}:{}".format(*local.client_address(1))
        done = kraft("cluster", "--bootstrap-server", bootstrap, "unregister", "--id", "3")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "Broker 3 is no longer registered.\n"
        topic = admin.list_topics("moved", timeout=10).topics["moved"]
        assert topic.partitions[0].leader == 1
        assert sorted(b for b in admin.list_topics(timeout=10).brokers) == [1, 2]
        again = kraft("cluster", "--bootstrap-controller",
                      "{}:{}".format(*local.controller_address(1)), "unregister", "--id", "3")
        assert again.returncode == 1 and "BROKER_ID_NOT_REGISTERED" in again.stderr
