"""The package as users get it: a non-editable install in a fresh virtual
environment, the README's example tests run from outside the repository
through the installed pytest plugin, and only `kraft` in site-packages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(r"```python\n(# (test_\w+\.py):.*?)```", re.S)


def _readme_examples() -> dict[str, str]:
    """The README's copy-pasteable test files, by the file name each one opens with."""
    return {name: code for code, name in EXAMPLE.findall((ROOT / "README.md").read_text())}


def test_readme_has_a_confluent_kafka_and_a_kafka_python_example() -> None:
    """The README shows one complete test per client, using the plugin's fixtures."""
    examples = _readme_examples()
    assert any("confluent_kafka" in c and "kraft_broker" in c for c in examples.values())
    assert any("from kafka import" in c and "kraft_cluster" in c for c in examples.values())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with kraft installed from a copy of the sources (not editable)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", ".cluster", ".cache", "__pycache__", "*.egg-info", "build"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check"]
    subprocess.run([*pip, str(source), "pytest", "confluent-kafka", "kafka-python"],
                   check=True, timeout=900)
    return venv


@pytest.mark.slow
def test_only_kraft_is_installed_and_a_users_log_module_does_not_shadow_it(
        installed: Path, tmp_path: Path) -> None:
    """site-packages gains `kraft` (with kraft.log, kraft.net) and no top-level log or net;
    a user's own log.py in the working directory does not break `import kraft.node`."""
    python = str(installed / "bin" / "python")
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    assert (site / "kraft" / "log" / "batch.py").exists()
    assert (site / "kraft" / "net" / "server.py").exists()
    assert not (site / "log").exists() and not (site / "net").exists()
    (tmp_path / "log.py").write_text("print('the user log module')\n")
    (tmp_path / "net.py").write_text("")
    out = subprocess.run([python, "-c", "import kraft.node, kraft.pytest_plugin; print('ok')"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.slow
def test_readme_examples_pass_through_the_installed_plugin(installed: Path,
                                                           tmp_path: Path) -> None:
    """The README's example tests, copied outside the repository, pass with the plugin."""
    for name, code in _readme_examples().items():
        (tmp_path / name).write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    out = subprocess.run([str(installed / "bin" / "python"), "-m", "pytest", "-q",
                          "-p", "no:cacheprovider", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert re.search(r"\b2 passed\b", out.stdout), out.stdout[-2000:]
