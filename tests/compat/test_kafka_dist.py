"""The Maven helper: Kafka's artifacts resolve, the tools' main classes exist, and a
build that is up to date is recognised without starting Maven."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.compat import kafka_dist
from tests.compat.kafka_dist import TOOLS, KafkaDist


def test_classpath_has_kafka_at_the_pinned_version(kafka: KafkaDist) -> None:
    """The classpath holds kafka_2.13, kafka-tools, kafka-clients and kafka-streams
    at the version pom.xml pins, and the compat programs' jar comes first."""
    assert kafka.version == kafka_dist.kafka_version()
    names = {entry.rsplit("/", 1)[-1] for entry in kafka.classpath}
    for artifact in ("kafka_2.13", "kafka-tools", "kafka-clients", "kafka-streams"):
        assert f"{artifact}-{kafka.version}.jar" in names
    assert kafka.classpath[0] == str(kafka_dist.COMPAT_JAR)


def test_every_tool_main_class_is_on_the_classpath(kafka: KafkaDist) -> None:
    """Each tool in TOOLS names a class that one of the jars contains."""
    classes: set[str] = set()
    for entry in kafka.classpath:
        if entry.endswith(".jar"):
            with zipfile.ZipFile(entry) as jar:
                classes.update(n for n in jar.namelist() if n.endswith(".class"))
    missing = {tool: main for tool, main in TOOLS.items()
               if main.replace(".", "/") + ".class" not in classes}
    assert missing == {}


def test_up_to_date_build_does_not_start_maven(kafka: KafkaDist,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Once built, ensure() answers from its stamp without running anything."""
    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"ensure() ran a process: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert kafka_dist.ensure() == kafka


def test_fingerprint_follows_the_sources(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing, adding or renaming a source file changes the fingerprint."""
    root = tmp_path
    (root / "src").mkdir()
    (root / "pom.xml").write_text("<project/>")
    source = root / "src" / "A.java"
    source.write_text("class A {}")
    monkeypatch.setattr(kafka_dist, "HERE", root)
    monkeypatch.setattr(kafka_dist, "POM", root / "pom.xml")
    monkeypatch.setattr(kafka_dist, "SOURCES", root / "src")
    seen = {kafka_dist.fingerprint()}
    source.write_text("class A { int x; }")
    seen.add(kafka_dist.fingerprint())
    (root / "src" / "B.java").write_text("class B {}")
    seen.add(kafka_dist.fingerprint())
    source.rename(root / "src" / "C.java")
    seen.add(kafka_dist.fingerprint())
    assert len(seen) == 4
