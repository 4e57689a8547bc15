"""Packaging: every source folder is installed under the `kraft` package.

The repository keeps log/ and net/ beside kraft/; pyproject maps them to
kraft.log and kraft.net and lists each package explicitly, so a new folder
that is not listed would be silently left out of a wheel.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# Repository folder -> package name: kraft/ -> kraft, log/ -> kraft.log, net/ -> kraft.net.
FOLDERS = {folder: package for package, folder in SETUPTOOLS["package-dir"].items()}


def _package_of(folder: Path) -> str:
    top, *rest = folder.relative_to(ROOT).parts
    return ".".join([FOLDERS[top], *rest])


def test_every_source_folder_is_a_listed_package() -> None:
    """Each folder holding .py files under kraft/, log/ and net/ is a listed package."""
    folders = {path.parent for top in FOLDERS for path in (ROOT / top).rglob("*.py")
               if "__pycache__" not in path.parts}
    assert {_package_of(f) for f in folders} == set(SETUPTOOLS["packages"])
    assert [f for f in folders if not (f / "__init__.py").exists()] == []


def test_only_kraft_is_top_level() -> None:
    """Nothing but `kraft` and its subpackages is installed (no top-level log or net)."""
    assert {name.split(".")[0] for name in SETUPTOOLS["packages"]} == {"kraft"}
    assert set(FOLDERS) == {"kraft", "log", "net"}
