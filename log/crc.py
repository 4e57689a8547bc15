"""CRC-32C (Castagnoli), the checksum of record batches, from the crc32c package.

`from kraft.log.crc import crc32c` gives what `import crc32c` gives for
`crc32c.crc32c(data, value=0)`, without the cost of the package's
`__init__`: it looks its own version up among the installed distributions
(importlib.metadata, with email, zipfile and csv), 30-60 ms of every node's
start-up for a string nobody reads. The package's C extension is loaded
here directly; should its layout change, or the package be loaded already,
the package itself is used.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["crc32c"]


class Crc32c(Protocol):
    """The part of the crc32c package kraft uses."""

    def crc32c(self, data: Buffer, value: int = 0, gil_release_mode: int = -1) -> int: ...


def _load() -> Crc32c:
    if "crc32c" not in sys.modules:
        package = importlib.util.find_spec("crc32c")  # finds it, runs nothing
        locations = package.submodule_search_locations if package is not None else None
        spec = (importlib.machinery.PathFinder.find_spec("crc32c._crc32c", locations)
                if locations else None)
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if callable(getattr(module, "crc32c", None)):
                return cast(Crc32c, module)
    import crc32c as package_module

    return cast(Crc32c, package_module)


crc32c: Crc32c = _load()
