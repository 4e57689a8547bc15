"""kraft.dataclass_code: dataclass methods compiled once and kept make the same classes.

Each check runs in a fresh interpreter (the cache patches the dataclasses
module of the process that enables it): one writes a cache, another builds
the same classes from it without compiling, and they behave as classes made
without the cache (fields, equality, hashing, repr, frozen, annotations).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

CLASSES = textwrap.dedent('''
    import dataclasses, json, sys
    from dataclasses import dataclass, field

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Vote:
        epoch: int
        voter: str | None = None
        tags: tuple[str, ...] = ()

    @dataclass(order=True)
    class Offset:
        value: int
        log: list[int] = field(default_factory=list)

    a, b = Vote(epoch=1, voter="x"), Vote(epoch=1, voter="x")
    try:
        a.epoch = 2
        frozen = False
    except dataclasses.FrozenInstanceError:
        frozen = True
    facts = {
        "eq": a == b, "hash": hash(a) == hash(b), "repr": repr(a), "frozen": frozen,
        "order": Offset(1) < Offset(2), "factory": Offset(1).log == [],
        "annotations": {k: str(v) for k, v in Vote.__init__.__annotations__.items()},
        "doc": Offset.__doc__,
    }
''')


def _run(code: str, *args: str, write_bytecode: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


WITH_CACHE = textwrap.dedent('''
    import sys
    from pathlib import Path
    from kraft import dataclass_code
    dataclass_code.enable(Path(sys.argv[1]))
''') + CLASSES + textwrap.dedent('''
    facts["compiled"] = dataclass_code._compiled
    facts["saved"] = dataclass_code.save(Path(sys.argv[1]))
    print(json.dumps(facts))
''')


def test_classes_from_the_cache_are_the_classes_without_it(tmp_path: Path) -> None:
    """A second process builds its dataclasses from the cache the first wrote, compiling
    nothing, and they behave exactly as dataclasses made without the cache."""
    cache = tmp_path / "cache.marshal"
    plain = _run(CLASSES + "\nprint(json.dumps(facts))")
    first = _run(WITH_CACHE, str(cache))
    second = _run(WITH_CACHE, str(cache))
    assert first["compiled"] > 0 and first["saved"] is True
    assert second["compiled"] == 0 and second["saved"] is False
    for facts in (first, second):
        facts.pop("compiled"), facts.pop("saved")
        assert facts == plain
    assert plain["frozen"] and plain["eq"] and plain["order"]


def test_a_damaged_cache_is_compiled_around(tmp_path: Path) -> None:
    """A cache file of garbage counts as empty: every method is compiled, the classes work."""
    cache = tmp_path / "cache.marshal"
    cache.write_bytes(b"\x00garbage\xff" * 10)
    facts = _run(WITH_CACHE, str(cache))
    assert facts["compiled"] > 0 and facts["eq"] and facts["frozen"]


def test_no_cache_is_written_when_bytecode_writing_is_off(tmp_path: Path) -> None:
    """With PYTHONDONTWRITEBYTECODE the cache is read, never written."""
    cache = tmp_path / "cache.marshal"
    facts = _run(WITH_CACHE, str(cache), write_bytecode=False)
    assert facts["compiled"] > 0 and facts["saved"] is False
    assert not cache.exists()


def test_the_built_cache_covers_what_a_node_loads_to_start(tmp_path: Path) -> None:
    """`python -m kraft.dataclass_code PATH` writes a cache from which the modules of a
    node's start, and the ApiVersions schemas of its first requests, are loaded without
    compiling a dataclass method."""
    cache = tmp_path / "cache.marshal"
    subprocess.run([sys.executable, "-m", "kraft.dataclass_code", str(cache)], check=True,
                   timeout=60)
    probe = textwrap.dedent('''
        import json, sys
        from pathlib import Path
        sys.modules.setdefault("hypothesis", None)
        from kraft import dataclass_code
        dataclass_code.enable(Path(sys.argv[1]))
        import kraft.node, kraft.run
        from kraft.net.codec import request_type, response_type
        request_type(18, 3), response_type(18, 3)  # ApiVersions, a start's first request
        print(json.dumps({"compiled": dataclass_code._compiled}))
    ''')
    assert _run(probe, str(cache))["compiled"] == 0
