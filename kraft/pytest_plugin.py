"""pytest plugin: real kraft brokers as fixtures, for your own test suite.

Installed with kraft (entry point `pytest11`), so `pip install kraft` is all
it takes. Fixtures, both session-scoped (one broker or cluster for the whole
run; name topics with `new_topic` so tests do not meet each other's data):

- `kraft_broker`: a single node (broker + controller), a `kraft.testing.Broker`:
  `.bootstrap_servers` ("127.0.0.1:PORT"), `.create_topic(name, partitions=1,
  replication_factor=1, config=None)`, `.new_topic(prefix)`.
- `kraft_cluster`: three nodes, each broker and controller, a
  `kraft.testing.Cluster`: `.bootstrap_servers` (comma-separated), `.nodes`,
  `.kill(id)` (kill -9), `.restart(id)`, `.pause(id)` / `.resume(id)`
  (SIGSTOP/SIGCONT), `.leader_of(topic, partition)`, `.create_topic(...)`,
  `.new_topic(prefix)`.

`pytest --kraft-keep-data` keeps the nodes' data and logs after the run and
prints where (also KRAFT_TESTING_KEEP_DATA=1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kraft.testing import Broker, Cluster


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kraft", "kraft brokers for tests")
    group.addoption("--kraft-keep-data", action="store_true", default=None,
                    help="keep the data and logs of kraft_broker / kraft_cluster after the run")


def _keep(request: pytest.FixtureRequest) -> bool | None:
    value = request.config.getoption("kraft_keep_data")
    return True if value else None


@pytest.fixture(scope="session")
def kraft_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A single-node kraft broker in its own process, for the whole session."""
    with Broker(keep_data=_keep(request)) as broker:
        yield broker


@pytest.fixture(scope="session")
def kraft_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """Three kraft nodes (broker + controller each), for the whole session."""
    with Cluster(3, keep_data=_keep(request)) as cluster:
        yield cluster
