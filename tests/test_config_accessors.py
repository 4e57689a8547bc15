"""Code reads a server key through its typed attribute, not by its string.

`KafkaConfig` gives a typed attribute for the keys kraft reads
(`config.node_id` for `config["node.id"]`), so that the type checker knows
each value's type and a misspelt key is an AttributeError at import rather
than a KeyError on some request. This test scans kraft/ for subscripts of a
`...config` expression with a literal key that has such an attribute.
"""

from __future__ import annotations

import ast
from pathlib import Path

from kraft.config import KafkaConfig

PACKAGE = Path(__file__).resolve().parent.parent / "kraft"


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def string_reads(path: Path) -> list[tuple[int, str]]:
    """(line, key) of each `<...config>["key"]` in `path` whose key has a typed attribute."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Subscript) and _name_of(node.value).endswith("config")
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
                and hasattr(KafkaConfig, node.slice.value.replace(".", "_"))):
            found.append((node.lineno, node.slice.value))
    return found


def test_the_scan_finds_a_string_read(tmp_path: Path) -> None:
    """The scan itself recognises `config["node.id"]` (so the test below can fail)."""
    sample = tmp_path / "sample.py"
    sample.write_text('def f(ctx):\n    return ctx.config["node.id"], ctx.config.node_id\n')
    assert string_reads(sample) == [(2, "node.id")]


def test_no_key_with_a_typed_attribute_is_read_by_string() -> None:
    """No module in kraft/ reads by string a key that has a typed attribute."""
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line}: {key}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path.name != "config.py"
                 for line, key in string_reads(path)]
    assert not offenders, "use the typed attribute:\n" + "\n".join(offenders)
