"""Shared pytest configuration: hypothesis profiles and the groups of tests
that run on one pytest-xdist worker.

`dev` (default) keeps the suite quick on a laptop; `ci` (selected when CI=true)
draws more examples. Individual tests that need a fixed budget (the raft
simulation) set their own `max_examples`.
"""

import os
import signal
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


# scripts/test runs the suite on two pytest-xdist workers. Work goes out by
# group: a test module's tests run on one worker, in order, so a module-scoped
# node is started once. Some modules share more and run on one worker
# together: the compat tier shares one Kafka download, one Maven build and one
# dev node and cluster per session; the network-namespace schedules end by
# checking that no kraft namespace is left on the machine, which another
# worker's schedule would break.
SHARED_GROUPS = {
    "tests/compat/": "compat",
    "tests/faults/test_netns_faults.py": "netns",
}


# Modules of long, independent tests (no fixture wider than a test): each test
# is a work unit of its own, so they spread over both workers instead of one
# worker running minutes of them while the other idles.
SPLIT_MODULES = frozenset({
    "tests/raft/test_simulation.py",
    "tests/integration/test_clients_roundtrip.py",
    "tests/faults/test_fault_schedules.py",
    "tests/faults/test_txn_fault_schedules.py",
})


def group_of(nodeid: str) -> str:
    """The work unit a test goes out in: its shared group, else its module (the
    test itself in SPLIT_MODULES)."""
    module = nodeid.split("::", 1)[0]
    if module in SPLIT_MODULES:
        return nodeid
    return next((name for prefix, name in SHARED_GROUPS.items() if module.startswith(prefix)),
                module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's load-by-scope scheduling, with `group_of` as the scope (largest groups
    first). Only for the default distribution (`-n N`); an explicit --dist wins."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped with SIGTERM (a CI timeout, `kill`) unwinds as on Ctrl-C, so the
    fixtures stop the nodes and clusters they started; without this the process
    would die at once and leave them running."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")
