"""What a node loads to start, and what waits for its first use (docs/design.md,
"What is loaded at start-up").

One subprocess starts a single-node broker + controller (kraft dev's roles)
from a fresh interpreter and reports sys.modules at each step: once ready,
the broker's handler modules, the group and transaction coordinators and the
tools are not loaded, and ApiVersions answers the full table without loading
a handler. Then two ListGroups requests sent at once, the first of their API,
are both answered (the handler module and the group coordinator it uses load
on the way, once), and the `kraft` command's server path skips the tools.
Properties only: how fast it starts is measured by scripts/bench_broker.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kraft.broker import handlers
from kraft.net.api_keys import ApiKey
from tests.ports import free_port

NODE = textwrap.dedent('''
    import json, sys
    sys.modules.setdefault("hypothesis", None)  # as the kraft command does (kraft.cli)
    from kraft.cli import _kio_without_asyncio
    _kio_without_asyncio()  # as the kraft command does
    import trio
    from kraft import meta_properties
    from kraft.config import KafkaConfig
    from kraft.node import Node

    data, port, controller_port = sys.argv[1], sys.argv[2], sys.argv[3]
    meta_properties.format_directories([data], meta_properties.random_uuid(), 1)
    config = KafkaConfig({
        "node.id": "1", "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "controller.listener.names": "CONTROLLER", "log.dirs": data,
        "offsets.topic.replication.factor": "1",
    })
    seen = {}

    async def main():
        from kraft.net.client import KafkaClient
        from kraft.net.codec import request_type

        node = Node(config)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(node.run)
            with trio.fail_after(60):
                await node.ready.wait()
            seen["ready"] = sorted(sys.modules)
            address = ("127.0.0.1", int(port))
            async with KafkaClient("startup-test") as client, \\
                    KafkaClient("startup-test-2") as other:
                connection = await client.connection(address)  # asks ApiVersions
                seen["api_versions"] = sorted(connection.api_versions)
                seen["after_api_versions"] = sorted(sys.modules)
                answers = []

                async def list_groups(via):
                    request = request_type(16, 4)(states_filter=())
                    answers.append(int((await via.request(address, request, 30)).error_code))

                async with trio.open_nursery() as requests:
                    requests.start_soon(list_groups, client)
                    requests.start_soon(list_groups, other)
                seen["list_groups"] = answers
                seen["after_list_groups"] = sorted(sys.modules)
            node.stop()

    trio.run(main)
    print(json.dumps(seen))
''')

# Loaded on first use only (never by a node's start): handlers, coordinators, tools;
# what only a dynamic quorum (KIP-853), a snapshot or a transactional producer needs;
# asyncio (kio imports it for a type alias only; kraft runs on trio).
LAZY_PREFIXES = ("kraft.broker.handlers.", "kraft.broker.group", "kraft.broker.txn",
                 "kraft.tools", "kraft.raft.bootstrap_checkpoint", "kio.schema.voters_record",
                 "kio.schema.snapshot_header_record", "kio.schema.snapshot_footer_record",
                 "kio.schema.allocate_producer_ids", "asyncio")


def _lazy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.startswith(LAZY_PREFIXES)]


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    """sys.modules of a node at ready, after ApiVersions and after its first ListGroups."""
    data = tmp_path_factory.mktemp("startup") / "data"
    data.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", NODE, str(data), str(free_port()), str(free_port())],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, list] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_ready_node_has_loaded_no_handler_coordinator_or_tool(seen: dict[str, list]) -> None:
    """At ready, no handler module, no coordinator module, no tool and nothing else of
    LAZY_PREFIXES is loaded."""
    assert _lazy(seen["ready"]) == []
    assert "kraft.broker.handlers" in seen["ready"]  # the declarations are


def test_api_versions_answers_every_api_without_loading_a_handler(
    seen: dict[str, list],
) -> None:
    """ApiVersions lists every declared broker API while no handler module is loaded."""
    assert {spec.key for spec in handlers.APIS} <= set(seen["api_versions"])
    assert _lazy(seen["after_api_versions"]) == []


def test_concurrent_first_requests_load_the_handler_and_its_coordinator(
    seen: dict[str, list],
) -> None:
    """Two ListGroups sent at once, the first of their API, are both answered NONE,
    and only then are its handler module and the group coordinator loaded."""
    assert seen["list_groups"] == [0, 0]
    loaded = _lazy(seen["after_list_groups"])
    assert handlers.module_name(ApiKey.LIST_GROUPS) in loaded
    assert "kraft.broker.group.coordinator" in loaded
    assert not any(m.startswith("kraft.broker.txn.coordinator") for m in loaded)


def test_the_kraft_command_runs_a_node_without_importing_the_tools(tmp_path: Path) -> None:
    """`kraft dev` (kraft.cli) dispatches to the node before any tool module loads."""
    probe = textwrap.dedent('''
        import sys
        import kraft.run
        kraft.run.dev_main = lambda argv: print(sorted(sys.modules)) or 0
        from kraft.cli import main
        main(["dev", "--port", "0"])
    ''')
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.startswith("['")  # dev_main ran
    assert "kraft.tools" not in done.stdout


def test_the_kraft_command_loads_kio_without_asyncio_and_pauses_gc() -> None:
    """`kraft dev` reaches its node with kio's serializers loaded but not asyncio (kio
    imports it only for a type alias) and the cyclic GC paused; a later
    `import asyncio` still gets the real module."""
    probe = textwrap.dedent('''
        import gc, json, sys
        import kraft.run

        def dev_main(argv):
            seen = {"modules": sorted(sys.modules), "gc": gc.isenabled()}
            import asyncio
            seen["real_asyncio"] = hasattr(asyncio, "get_running_loop")
            print(json.dumps(seen))
            return 0

        kraft.run.dev_main = dev_main
        from kraft.cli import main
        main(["dev", "--port", "0"])
    ''')
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    seen = json.loads(done.stdout)
    assert "kio.serial.writers" in seen["modules"]
    assert not any(m == "asyncio" or m.startswith("asyncio.") for m in seen["modules"])
    assert seen["gc"] is False
    assert seen["real_asyncio"] is True


def test_gc_resumes_frozen_once_start_up_is_over() -> None:
    """kraft.run._resume_gc turns a paused collector back on with start-up's objects
    frozen, and leaves a running one alone."""
    probe = textwrap.dedent('''
        import gc
        from kraft import run
        gc.disable()
        run._resume_gc()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        run._resume_gc()
        assert gc.get_freeze_count() == frozen
        print("ok")
    ''')
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
