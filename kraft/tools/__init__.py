"""Command-line tools that talk to a running cluster or read its directories."""
