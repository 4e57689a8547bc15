"""Command-line tools that talk to a running cluster or read its directories, and the
local test servers they drive (`kraft raft-test-server`, LocalCluster for scripts/cluster)."""
