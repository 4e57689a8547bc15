"""Fixtures that run real `kraft dev` processes; each is stopped even if the test fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.dev import DevNode


@pytest.fixture
def dev_factory(tmp_path: Path) -> Iterator[type]:
    """Start DevNodes with `dev_factory(*overrides)`; all are killed at teardown."""
    started: list[DevNode] = []

    def factory(*overrides: str, data_dir: Path | None = None,
                file_size_limit: int | None = None) -> DevNode:
        node = DevNode(data_dir or tmp_path / f"data{len(started)}",
                       tmp_path / f"logs{len(started)}", *overrides,
                       file_size_limit=file_size_limit)
        started.append(node)
        return node.start()

    yield factory  # type: ignore[misc]
    for node in started:
        node.close()


@pytest.fixture
def dev_node(dev_factory) -> DevNode:  # type: ignore[no-untyped-def]
    """One running dev node with a fresh data directory."""
    return dev_factory()
