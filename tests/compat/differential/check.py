"""The differential check: the same request sequences to Apache Kafka and to kraft.

`differential(kafka, work, scenarios)` starts one kraft node (`kraft start`,
the settings of `kafka_node.kraft_cluster`), runs every scenario against it,
stops it, then does the same with one Apache Kafka node (the quickstart's
settings), so the two never share the machine. Both get
group.initial.rebalance.delay.ms=0 (a lone member's join completes at once
instead of after 3 s, for hundreds of joins); everything else is each
system's default. kraft runs first because the versions sent are the ones
kraft advertises (ApiVersions v3 on its client listener), intersected with
what kio can encode, unless a scenario names its versions.

The answers are normalised (tree.DEFAULT_RULES plus each scenario's rules)
and compared; differences are grouped per scenario by field and the two
values, with the versions they occur in. `render_summary`, `render_details`
and `report_json` present the `Report`; `render_advertised` the APIs and
version ranges each side advertises on each listener.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kio.schema.index import api_key_map

from kraft.net.codec import kio_versions
from tests.compat.differential import wire
from tests.compat.differential.engine import SCENARIOS, RunResult, Scenario, run
from tests.compat.differential.tree import DEFAULT_RULES, diff, normalise
from tests.compat.kafka_dist import KafkaDist
from tests.compat.kafka_node import KafkaCluster, kraft_cluster

DIFF_OVERRIDES = {"group.initial.rebalance.delay.ms": "0"}
Ranges = dict[int, tuple[int, int]]


def all_scenarios() -> list[Scenario]:
    """Every scenario of the library, in definition order."""
    from tests.compat.differential import (  # noqa: F401 -- importing defines them
        scenarios_admin,
        scenarios_configs,
        scenarios_data,
        scenarios_groups,
        scenarios_wire,
    )
    return list(SCENARIOS)


def advertised(address: tuple[str, int]) -> tuple[Ranges, Any]:
    """(api key -> (min, max), the ApiVersions v3 response) of the listener at `address`."""
    with wire.Wire(address) as connection:
        outcome = connection.call(wire.request(18, 3, {"client_software_name": "vs-kafka",
                                                       "client_software_version": "1.0"}))
    if outcome.kind != "response":
        raise RuntimeError(f"ApiVersions to {address}: {outcome.kind} {outcome.detail}")
    response = outcome.response
    return {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}, response


def versions_for(sc: Scenario, kraft_ranges: Ranges) -> list[int]:
    """Every version kraft advertises that kio encodes (of those the scenario names,
    if it names some); a raw scenario's own versions as they are."""
    if sc.raw is not None:
        return list(sc.versions or ())
    theirs, ours = kraft_ranges.get(sc.api), kio_versions(sc.api)
    if theirs is None or ours is None:
        return []
    usable = range(max(theirs[0], ours[0]), min(theirs[1], ours[1]) + 1)
    return [v for v in (usable if sc.versions is None else sc.versions) if v in usable]


@dataclasses.dataclass
class Side:
    """One system's run: what each listener advertised and every answer."""

    system: str
    version: str
    client_ranges: Ranges
    controller_ranges: Ranges
    features: dict[str, Any]
    result: RunResult
    seconds: float


def run_side(system: str, kafka: KafkaDist, work: Path, scenarios: list[Scenario],
             versions_of: Callable[[Scenario], list[int]] | None,
             progress: Callable[[str], None] | None = None) -> Side:
    """Start one node of `system` ("kafka" or "kraft"), run `scenarios`, stop it.
    `versions_of` None means kraft's own advertised versions (kraft only)."""
    cluster: Any
    if system == "kafka":
        cluster = KafkaCluster(kafka, work / "kafka", nodes=1, overrides=DIFF_OVERRIDES)
        version = kafka.version
    else:
        cluster = kraft_cluster(work / "kraft", 1, DIFF_OVERRIDES)
        from kraft import __version__ as version
    with cluster:
        cluster.start()
        addresses = {"client": cluster.client_address(1),
                     "controller": cluster.controller_address(1)}
        client_ranges, response = advertised(addresses["client"])
        try:
            controller_ranges, _ = advertised(addresses["controller"])
        except RuntimeError:
            controller_ranges = {}
        if versions_of is None:
            versions_of = lambda sc: versions_for(sc, client_ranges)  # noqa: E731
        started = time.monotonic()
        result = run(addresses, scenarios, versions_of, progress)
        seconds = time.monotonic() - started
        cluster.stop()
    features = {
        "supported": {f.name: [f.min_version, f.max_version]
                      for f in response.supported_features},
        "finalized": {f.name: [f.min_version_level, f.max_version_level]
                      for f in response.finalized_features},
    }
    return Side(system, str(version), client_ranges, controller_ranges, features, result,
                seconds)


# ---------------------------------------------------------------- comparing


@dataclasses.dataclass
class Grouped:
    """One difference of one scenario, with every version it occurs in."""

    field: str
    kafka: Any
    kraft: Any
    versions: list[int]
    path: str  # the first occurrence, with list indices


@dataclasses.dataclass
class ScenarioResult:
    name: str
    api: int
    versions: list[int]
    differences: list[Grouped]
    setup_failures: dict[str, str]
    note: str

    @property
    def status(self) -> str:
        if self.setup_failures:
            return "setup failed on " + ", ".join(sorted(self.setup_failures))
        return "same" if not self.differences else f"{len(self.differences)} differ"


@dataclasses.dataclass
class Report:
    kafka: Side
    kraft: Side
    scenarios: list[ScenarioResult]


def _prepare(tree: Any, rules: Iterable[str]) -> Any:
    if isinstance(tree, dict) and "response" in tree:
        return {"response": normalise(tree["response"], rules)}
    return tree


def compare(kafka: Side, kraft: Side, scenarios: list[Scenario]) -> Report:
    results = []
    for sc in scenarios:
        rules = (*DEFAULT_RULES, *sc.rules)
        a, b = kafka.result.answers.get(sc.name, {}), kraft.result.answers.get(sc.name, {})
        groups: dict[tuple[str, str, str], Grouped] = {}
        versions = sorted(set(a) | set(b))
        for v in versions:
            left = _prepare(a.get(v, {"not sent": True}), rules)
            right = _prepare(b.get(v, {"not sent": True}), rules)
            for d in diff(left, right):
                key = (d.field, _text(d.kafka), _text(d.kraft))
                if key in groups:
                    if v not in groups[key].versions:
                        groups[key].versions.append(v)
                else:
                    groups[key] = Grouped(d.field, d.kafka, d.kraft, [v], d.path)
        failures = {side.system: side.result.setup_failures[sc.name]
                    for side in (kafka, kraft) if sc.name in side.result.setup_failures}
        results.append(ScenarioResult(sc.name, sc.api, versions, list(groups.values()),
                                      failures, sc.note))
    return Report(kafka, kraft, results)


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def version_text(versions: list[int]) -> str:
    """[1, 2, 3, 5] as "v1-3, v5"."""
    runs: list[list[int]] = []
    for v in sorted(set(versions)):
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(f"v{a}" if a == b else f"v{a}-{b}" for a, b in runs)


def api_name(key: int) -> str:
    name = api_key_map.get(key)
    return ("".join(part.capitalize() for part in name.split("_")) if name
            else "(not in kio's schemas)")


def render_summary(report: Report) -> str:
    lines = ["| scenario | API | versions | result |", "| --- | --- | --- | --- |"]
    for r in report.scenarios:
        lines.append(f"| {r.name} | {api_name(r.api)} | {version_text(r.versions) or '-'} "
                     f"| {r.status} |")
    same = sum(1 for r in report.scenarios if r.status == "same")
    sent = sum(len(r.versions) for r in report.scenarios)
    lines += ["", f"{len(report.scenarios)} scenarios, {sent} requests per side: {same} "
              f"answered the same, {len(report.scenarios) - same} differ or failed."]
    return "\n".join(lines)


def _short(value: Any, limit: int = 300) -> str:
    text = _text(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def render_details(report: Report, per_scenario: int = 25) -> str:
    lines = []
    for r in report.scenarios:
        if r.status == "same":
            continue
        lines.append(f"### {r.name} ({api_name(r.api)} {version_text(r.versions)})")
        if r.note:
            lines.append(f"_{r.note}_")
        for side, why in sorted(r.setup_failures.items()):
            lines.append(f"- setup failed on {side}: {why.splitlines()[0]}")
        for g in r.differences[:per_scenario]:
            lines.append(f"- `{g.path}` ({version_text(g.versions)}): Kafka "
                         f"{_short(g.kafka)}; kraft {_short(g.kraft)}")
        if len(r.differences) > per_scenario:
            lines.append(f"- ... and {len(r.differences) - per_scenario} more (see the JSON)")
        lines.append("")
    return "\n".join(lines)


def render_advertised(report: Report) -> str:
    """APIs and version ranges per side and listener, as a markdown table."""
    def cell(ranges: Ranges, key: int) -> str:
        found = ranges.get(key)
        return "-" if found is None else f"{found[0]}-{found[1]}"

    lines = [f"| API (key) | Kafka {report.kafka.version} | kraft | Kafka controller listener "
             "| kraft controller listener |", "| --- | --- | --- | --- | --- |"]
    keys = sorted(set(report.kafka.client_ranges) | set(report.kraft.client_ranges)
                  | set(report.kafka.controller_ranges) | set(report.kraft.controller_ranges))
    for key in keys:
        row = [cell(s, key) for s in (report.kafka.client_ranges, report.kraft.client_ranges,
                                      report.kafka.controller_ranges,
                                      report.kraft.controller_ranges)]
        mark = " **" if row[0] != row[1] or row[2] != row[3] else ""
        lines.append(f"| {api_name(key)} ({key}){mark.strip() and ' *'} | {' | '.join(row)} |")
    def features(side: Side) -> str:
        def ranges(found: dict[str, list[int]]) -> str:
            return ", ".join(f"`{k}` {lo}-{hi}" if lo != hi else f"`{k}` {lo}"
                             for k, (lo, hi) in sorted(found.items())) or "none"
        return (f"supported {ranges(side.features['supported'])}; finalized "
                f"{ranges(side.features['finalized'])}")

    lines += ["", "`*`: the two sides differ on this row.", "",
              f"Features in ApiVersions v3: Kafka {features(report.kafka)}. kraft "
              f"{features(report.kraft)}."]
    return "\n".join(lines)


def report_json(report: Report, answers: bool = False) -> dict[str, Any]:
    """The report as JSON-able data; `answers` adds every raw answer of both sides."""
    def side(s: Side) -> dict[str, Any]:
        out: dict[str, Any] = {
            "system": s.system, "version": s.version, "seconds": round(s.seconds, 1),
            "advertised": {api_name(k): list(v) for k, v in sorted(s.client_ranges.items())},
            "advertised_controller": {api_name(k): list(v)
                                      for k, v in sorted(s.controller_ranges.items())},
            "features": s.features, "setup_failures": s.result.setup_failures}
        if answers:
            out["answers"] = s.result.answers
        return out

    return {
        "kafka": side(report.kafka), "kraft": side(report.kraft),
        "scenarios": [{"name": r.name, "api": api_name(r.api), "versions": r.versions,
                       "status": r.status, "note": r.note, "setup_failures": r.setup_failures,
                       "differences": [dataclasses.asdict(g) for g in r.differences]}
                      for r in report.scenarios],
    }


def differential(kafka: KafkaDist, work: Path, scenarios: list[Scenario] | None = None,
                 progress: Callable[[str], None] | None = None) -> Report:
    """Run `scenarios` (default: all) on kraft, then on Kafka, and compare."""
    chosen = all_scenarios() if scenarios is None else scenarios
    kraft = run_side("kraft", kafka, work, chosen, None, progress)
    kafka_side = run_side("kafka", kafka, work, chosen,
                          lambda sc: versions_for(sc, kraft.client_ranges), progress)
    return compare(kafka_side, kraft, chosen)
