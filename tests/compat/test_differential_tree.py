"""The differential check's normalising and comparing (tests/compat/differential/tree.py)."""

from __future__ import annotations

import uuid

from kio.schema.errors import ErrorCode

from tests.compat.differential.check import version_text
from tests.compat.differential.tree import DEFAULT_RULES, diff, normalise, to_tree


def test_ids_numbered_by_first_appearance_and_sentinels_kept() -> None:
    """An id becomes "<id N>" by order of first appearance on each side, so two
    answers with different but consistently used ids compare equal; -1 stays."""
    a = {"topics": [{"name": "t", "topic_id": "AAA"}], "cluster_id": "C1", "producer_id": -1}
    b = {"topics": [{"name": "t", "topic_id": "BBB"}], "cluster_id": "C2", "producer_id": -1}
    left, right = normalise(a, DEFAULT_RULES), normalise(b, DEFAULT_RULES)
    assert left == right
    assert left["producer_id"] == -1


def test_sorted_lists_compare_regardless_of_order() -> None:
    """Lists under a sort rule compare equal whatever order each broker used."""
    a = {"topics": [{"name": "b"}, {"name": "a"}]}
    b = {"topics": [{"name": "a"}, {"name": "b"}]}
    assert list(diff(normalise(a, DEFAULT_RULES), normalise(b, DEFAULT_RULES))) == []


def test_mapped_list_reports_one_missing_entry() -> None:
    """A "map" rule turns a config list into entries by name: one entry missing on
    one side is one difference, not a shift of every later index."""
    rules = ("map:configs=name",)
    a = {"configs": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"},
                     {"name": "c", "value": "3"}]}
    b = {"configs": [{"name": "a", "value": "1"}, {"name": "c", "value": "3"}]}
    found = list(diff(normalise(a, rules), normalise(b, rules)))
    assert [(d.path, d.kraft) for d in found] == [("configs[b]", "<absent>")]


def test_time_rule_keeps_fixed_timestamps() -> None:
    """Wall-clock times are hidden; the fixed timestamps scenarios write are not."""
    tree = {"log_append_time": 1_800_000_000_000, "timestamp": 1_600_000_000_001}
    out = normalise(tree, DEFAULT_RULES)
    assert out == {"log_append_time": "<time>", "timestamp": 1_600_000_000_001}


def test_to_tree_spells_error_codes_and_ids_as_kafka() -> None:
    """Error codes read "NAME (code)"; Uuids Kafka's base64 text."""
    assert to_tree(ErrorCode.unknown_topic_or_partition) == "UNKNOWN_TOPIC_OR_PARTITION (3)"
    assert to_tree(uuid.UUID(int=0)) == "AAAAAAAAAAAAAAAAAAAAAA"


def test_diff_names_the_path_with_indices() -> None:
    """A differing leaf is reported with its list indices and both values."""
    found = list(diff({"a": [{"x": 1}, {"x": 2}]}, {"a": [{"x": 1}, {"x": 3}]}))
    assert [(d.path, d.field, d.kafka, d.kraft) for d in found] == [("a[1]/x", "a/x", 2, 3)]


def test_version_text_joins_runs() -> None:
    """Versions print as ranges."""
    assert version_text([1, 2, 3, 5, 7, 8]) == "v1-3, v5, v7-8"
