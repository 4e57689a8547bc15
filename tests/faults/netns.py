"""Three kraft nodes on separate network "hosts": Linux network namespaces.

Theory of operation. `Netns` builds (needs root, iproute2 and iptables):

- a namespace `<tag>b` holding a bridge `br0`;
- one namespace `<tag>n<i>` per node, joined to the bridge by a veth pair,
  with the address 10.<net>.<subnet>.<i>/24;
- a veth pair from the root namespace into the bridge with address .254, so
  clients (the workload, the checker's reads, the test's probes) in the root
  namespace reach every node, as clients on another host would.

Names are derived from the pid (`tag`), so concurrent runs do not collide;
`destroy()` deletes every namespace and the root veth, and is safe to call
twice or after a partial `create()`. Faults are iptables rules *inside* a
node's namespace (its INPUT and OUTPUT chains), so the root namespace's
firewall is never touched; `heal(node)` flushes them.

`NetnsCluster` is a `LocalCluster` whose nodes listen on their namespace's
address (fixed ports 19092/19093 inside each namespace: every namespace has
its own port space) and run `kraft start server.properties` under
`ip netns exec`, so `tests/faults/schedules.Faults` (kill -9, SIGSTOP, waits
for leaders and ISR) works on it unchanged.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kraft.tools.local_cluster import LocalCluster

CLIENT_PORT = 19092
CONTROLLER_PORT = 19093
NODE_VETH = "eth0"  # the node's end of its veth, inside its namespace


class NetnsUnavailable(Exception):
    """Network namespaces, veths, a bridge or iptables cannot be set up here."""


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetnsUnavailable(f"`{' '.join(args)}` failed: "
                               f"{(done.stderr or done.stdout).strip() or done.returncode}")


class Netns:
    """Namespaces, bridge and addresses for `nodes` nodes (module docstring)."""

    def __init__(self, nodes: int = 3, tag: str | None = None) -> None:
        self.ids = list(range(1, nodes + 1))
        pid = os.getpid()
        self.tag = tag or f"kf{pid % 100000}"
        self.subnet = f"10.{231 + pid % 20}.{pid % 250}"
        self.bridge_ns = f"{self.tag}b"
        self.root_veth = f"{self.tag}r"
        self._made: list[str] = []

    def ns(self, node: int) -> str:
        return f"{self.tag}n{node}"

    def address(self, node: int) -> str:
        return f"{self.subnet}.{node}"

    @property
    def client_address(self) -> str:
        """The root namespace's address on the bridge (where clients come from)."""
        return f"{self.subnet}.254"

    def create(self) -> None:
        """Build the topology; raises NetnsUnavailable (after cleaning up what
        was made) if any step fails."""
        try:
            for tool in (["ip", "-V"], ["iptables", "--version"]):
                try:
                    _run(*tool)
                except FileNotFoundError as e:
                    raise NetnsUnavailable(f"{tool[0]} is not installed: {e}") from None
            _run("ip", "netns", "add", self.bridge_ns)
            self._made.append(self.bridge_ns)
            _run("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
            _run("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
            for n in self.ids:
                ns = self.ns(n)
                _run("ip", "netns", "add", ns)
                self._made.append(ns)
                outer = f"{self.tag}v{n}"
                _run("ip", "link", "add", outer, "type", "veth", "peer", "name", NODE_VETH,
                     "netns", ns)
                _run("ip", "link", "set", outer, "netns", self.bridge_ns)
                _run("ip", "-n", self.bridge_ns, "link", "set", outer, "master", "br0", "up")
                _run("ip", "-n", ns, "addr", "add", f"{self.address(n)}/24", "dev", NODE_VETH)
                _run("ip", "-n", ns, "link", "set", NODE_VETH, "up")
                _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "link", "add", self.root_veth, "type", "veth", "peer", "name",
                 f"{self.tag}rb", "netns", self.bridge_ns)
            self._made.append(self.root_veth)
            _run("ip", "-n", self.bridge_ns, "link", "set", f"{self.tag}rb", "master", "br0",
                 "up")
            _run("ip", "addr", "add", f"{self.client_address}/24", "dev", self.root_veth)
            _run("ip", "link", "set", self.root_veth, "up")
            for n in self.ids:
                self.iptables(n, "-F")  # iptables works inside the namespace
        except NetnsUnavailable:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Delete everything `create` made (ignoring what is already gone)."""
        for name in reversed(self._made):
            if name == self.root_veth:
                subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
            else:
                subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self._made.clear()

    # --- faults -----------------------------------------------------------------------------

    def iptables(self, node: int, *args: str) -> None:
        _run("ip", "netns", "exec", self.ns(node), "iptables", *args)

    def cut(self, node: int, peers: list[int], *, clients: bool = False) -> None:
        """Drop every packet between `node` and each of `peers` (both directions,
        in `node`'s namespace); with `clients`, also between `node` and the
        root namespace's clients."""
        sources = [self.address(p) for p in peers] + ([self.client_address] if clients else [])
        for source in sources:
            self.iptables(node, "-A", "INPUT", "-s", source, "-j", "DROP")
            self.iptables(node, "-A", "OUTPUT", "-d", source, "-j", "DROP")

    def drop_inbound(self, node: int, peers: list[int]) -> None:
        """Drop only packets from `peers` arriving at `node` (its answers still leave)."""
        for p in peers:
            self.iptables(node, "-A", "INPUT", "-s", self.address(p), "-j", "DROP")

    def heal(self, node: int) -> None:
        """Remove every rule in `node`'s namespace."""
        self.iptables(node, "-F")


class NetnsCluster(LocalCluster):
    """A LocalCluster whose node i runs in `net.ns(i)` at `net.address(i)`."""

    def __init__(self, root: Path, net: Netns, *, overrides: dict[str, str] | None = None,
                 die_with_parent: bool = True) -> None:
        super().__init__(root, nodes=len(net.ids),
                         ports={n: (CLIENT_PORT, CONTROLLER_PORT) for n in net.ids},
                         overrides=overrides, die_with_parent=die_with_parent)
        self.net = net
        self.bootstrap = ",".join(f"{net.address(n)}:{CLIENT_PORT}" for n in net.ids)

    def host(self, node_id: int) -> str:
        self._known(node_id)
        return self.net.address(node_id)

    def command(self, node_id: int, config: Path) -> list[str]:
        return ["ip", "netns", "exec", self.net.ns(node_id), *super().command(node_id, config)]

    def _check_ports(self, node_id: int) -> None:
        """Each namespace has its own ports: nothing else can hold them."""
