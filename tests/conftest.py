"""Shared pytest configuration: hypothesis profiles.

`dev` (default) keeps the suite quick on a laptop; `ci` (selected when CI=true)
draws more examples. Individual tests that need a fixed budget (the raft
simulation) set their own `max_examples`.
"""

import os

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
