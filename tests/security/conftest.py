from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.certs import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate and client certificates alice and bob."""
    return make_pki(tmp_path_factory.mktemp("pki"),
                    {"alice": "/O=kraft/OU=eng/CN=alice", "bob": "/CN=bob"})


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates of another CA, which `pki` does not trust."""
    return make_pki(tmp_path_factory.mktemp("other-pki"), {"mallory": "/CN=mallory"},
                    ca_name="other")


def read(path: Path) -> str:
    return path.read_text()
