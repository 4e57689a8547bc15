"""Shared pytest configuration: hypothesis profiles and the groups of tests
that run on one pytest-xdist worker.

`dev` (default) keeps the suite quick on a laptop; `ci` (selected when CI=true)
draws more examples. Individual tests that need a fixed budget (the raft
simulation) set their own `max_examples`.
"""

import os

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


# scripts/test runs the suite on two pytest-xdist workers (`--dist loadgroup`).
# A test module's tests run on one worker, in order, so a module-scoped node is
# started once. Some modules share more and run on one worker together: the
# compat tier shares one Kafka download, one Maven build and one dev node and
# cluster per session; the network-namespace schedules end by checking that no
# kraft namespace is left on the machine, which another worker's schedule would
# break.
SHARED_GROUPS = {
    "tests/compat/": "compat",
    "tests/faults/test_netns_faults.py": "netns",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        group = next((name for prefix, name in SHARED_GROUPS.items()
                      if module.startswith(prefix)), module)
        item.add_marker(pytest.mark.xdist_group(group))
