"""The compiled methods of `@dataclass` classes, kept across runs (issue 12).

`@dataclass` writes each method it adds (`__init__`, `__repr__`, `__eq__`,
`__hash__`, a frozen class's `__setattr__`/`__delattr__`) as source text and
compiles it with `exec` while the class is created: about 640 methods on a
node's way to ready, ~0.1 ms each, the largest share of what a start costs
above the interpreter's floor. Bytecode caches (.pyc) do not cover them: the
text is made at run time.

`enable()` makes the dataclasses module compile through a cache: its `exec`
looks the source text up in a dict of code objects, read from a marshal file
next to kraft's bytecode (`kraft/__pycache__/dataclass-code.<tag>.marshal`),
and compiles, as `exec` would, only texts it does not hold. The key is the
exact text, so a class that changed is simply compiled again; the functions
are made from equal code objects in the same namespaces, so the classes are
the same as without the cache. `save()` writes it back with what this process
compiled, atomically, unless bytecode writing is off (`PYTHONDONTWRITEBYTECODE`,
`-B`): then the file is only read. `python -m kraft.dataclass_code [PATH]` writes
it afresh (entries of classes since changed drop out) from the modules a node
loads to start; scripts/_venv.sh runs it when kraft's sources changed, as it
compiles bytecode.

The `kraft` command enables it (kraft.cli). On a Python whose dataclasses
module does not compile through `exec`, nothing changes but the lookups.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

_PATH = (Path(__file__).parent / "__pycache__"
         / f"dataclass-code.{sys.implementation.cache_tag}.marshal")

_known: dict[str, CodeType] = {}
_compiled = 0  # texts compiled here (not in the file)


def _exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    """`exec` for the dataclasses module: a source text's code comes from the cache."""
    global _compiled
    if isinstance(source, str):
        code = _known.get(source)
        if code is None:
            # What exec(str) does from dataclasses (which has no __future__ imports):
            # compile with no inherited flags, under the name "<string>".
            code = compile(source, "<string>", "exec", dont_inherit=True)
            _known[source] = code
            _compiled += 1
        source = code
    builtins.exec(source, globals, locals)


def enable(path: Path | None = _PATH) -> None:
    """Compile dataclass methods through the cache, reading `path` if it holds one
    (an unreadable or foreign file counts as empty; None: start empty)."""
    if getattr(dataclasses, "exec", None) is _exec:
        return
    try:
        if path is None:
            raise OSError("start empty")
        loaded = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        loaded = {}
    if isinstance(loaded, dict):
        _known.update((k, v) for k, v in loaded.items()
                      if isinstance(k, str) and isinstance(v, CodeType))
    dataclasses.exec = _exec  # type: ignore[attr-defined]  # shadows the builtin there


def save(path: Path = _PATH, *, force: bool = False) -> bool:
    """Write the cache to `path` (atomically) when this process compiled something;
    not when bytecode writing is off, unless `force`. True if written."""
    if not _compiled or (sys.dont_write_bytecode and not force):
        return False
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_bytes(marshal.dumps(_known))
        os.replace(tmp, path)
    except OSError:  # a read-only install: every start compiles, as without the cache
        tmp.unlink(missing_ok=True)
        return False
    return True


def _build(path: Path = _PATH) -> int:
    """Write the cache afresh to `path` from the modules a node loads to start
    (scripts/_venv.sh)."""
    enable(None)
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]  # as kraft.cli
    import kraft.node
    import kraft.run  # noqa: F401
    from kraft.controller import apis
    from kraft.net import api_versions
    from kraft.net.api_keys import ApiKey
    from kraft.net.codec import request_type, response_type

    apis.declarations()
    # The schemas a start loads on its first requests: ApiVersions (both ends).
    request_type(ApiKey.API_VERSIONS, api_versions.MAX_VERSION)
    response_type(ApiKey.API_VERSIONS, api_versions.MAX_VERSION)
    save(path, force=True)
    return 0


if __name__ == "__main__":
    sys.exit(_build(*(Path(a) for a in sys.argv[1:2])))
