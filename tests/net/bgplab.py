"""The BGP lab: the speaker lab of :mod:`tests.net.lab` plus a router, on the seed's layer 3
addresses.

The seed's cluster (AS 64500) peers eBGP with its router (192.168.200.1, AS 64501) and announces
pool ``192.168.197.0/24``.  Here the router is BIRD 2 (:class:`tests.net.router.Bird`) in its
own namespace ``rtr`` at 192.168.200.1 on the lab's bridge; nodes ``n1``..``n3`` get
192.168.200.11.. beside their 10.9.0.x lab addresses, and their Node objects show those as
their InternalIP, so the speakers peer from them.  The router's configuration is what
``lbctl bgp export --format bird`` prints for the state and the Nodes.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.net.lab import Lab, node
from tests.net.netns import Lan, sh
from tests.net.router import Bird

ROUTER_IP = "192.168.200.1"
ROUTER_AS = 64501
CLUSTER_AS = 64500
POOL = "192.168.197.0/24"

#: The state every BGP lab test starts from: the seed's pool over BGP, the seed's router.
STATE = f"""\
schemaVersion: 1
pools:
  seed:
    addresses: ['{POOL}']
    announce: bgp
peers:
  router: {{address: {ROUTER_IP}, asn: {ROUTER_AS}, myASN: {CLUSTER_AS}, holdTime: 3}}
allocations: {{}}
"""


class BGPLab:
    """A :class:`Lab` of three speakers and a BIRD router they peer with."""

    def __init__(self, lan: Lan, tmp: Path) -> None:
        self.tmp = tmp
        self.lab = Lab(lan, tmp)
        self.bird: Bird | None = None
        try:
            self.router = lan.host("rtr", f"{ROUTER_IP}/24")
            self.ip = {name: f"192.168.200.{i}" for i, name in enumerate(self.lab.nodes,
                                                                           start=11)}
            for name, namespace in self.lab.ns.items():
                sh("ip", "-n", namespace, "addr", "add", f"{self.ip[name]}/24", "dev", "lan0")
                self.lab.api.put_object(node(name, self.ip[name]))
        except BaseException:
            self.lab.close()
            raise

    @property
    def api(self) -> Any:
        return self.lab.api

    def node_of(self, address: str) -> str:
        return next(name for name, ip in self.ip.items() if ip == address)

    # -- the state ---------------------------------------------------------------------------

    def put_state(self, text: str) -> None:
        self.api.put_object({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
            "data": {"state.yaml": text},
        })

    def state_text(self) -> str:
        configmap = self.api.get_object("configmaps", "lbctl-state", "kube-system")
        return str(configmap["data"]["state.yaml"])

    def allocate(self, allocations: dict[str, list[str]], pool: str = "seed") -> None:
        """Record ``allocations`` (Service in namespace shop -> IPs) in the current state."""
        document = yaml.safe_load(self.state_text())
        document["allocations"] = {"shop": {
            name: {"ips": ips, "pool": pool} for name, ips in allocations.items()
        }} if allocations else {}
        self.put_state(yaml.safe_dump(document, sort_keys=True))

    # -- the router --------------------------------------------------------------------------

    def export(self, fmt: str = "bird", peer: str | None = None) -> str:
        """``lbctl bgp export --format FMT [--peer PEER]`` for the current state and the lab's
        Nodes."""
        state = self.tmp / "export-state.yaml"
        state.write_text(self.state_text())
        nodes = self.tmp / "nodes.yaml"
        nodes.write_text(yaml.safe_dump_all(self.api.objects_of("nodes")))
        done = subprocess.run(
            [sys.executable, "-m", "lbctl", "bgp", "export", "--format", fmt, "--state",
             str(state), "-f", str(nodes), *(["--peer", peer] if peer else [])],
            capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start_router(self, password: str | None = None, peer: str | None = None) -> Bird:
        """BIRD with the configuration ``bgp export --format bird [--peer PEER]`` prints now
        (plus, with ``password``, the TCP MD5 password the export leaves to the router's
        operator)."""
        config = self.export("bird", peer)
        if password is not None:
            marker = f"  local as {ROUTER_AS};\n"
            assert marker in config, config
            config = config.replace(marker, f'{marker}  password "{password}";\n')
        self.bird = Bird(self.router, self.tmp, config)
        return self.bird

    def paths(self, prefix: str) -> set[str]:
        """The nodes the router has a path to ``prefix`` through."""
        assert self.bird is not None
        return {self.node_of(hop) for hop in self.bird.routes().get(prefix, set())}

    def wait_paths(self, prefix: str, nodes: set[str], within: float) -> float:
        """Until the router's paths to ``prefix`` go through exactly ``nodes``; seconds."""
        assert self.bird is not None
        expected = {self.ip[n] for n in nodes}
        try:
            return self.bird.wait_for(lambda r: r.get(prefix, set()) == expected, within,
                                      f"{prefix} via {sorted(nodes)}")
        except AssertionError as exc:
            logs = "\n".join(f"--- {n}\n{self.lab.log(n)[-2500:]}" for n in self.lab.nodes)
            raise AssertionError(f"{exc}\n{logs}") from None

    def metrics(self, name: str) -> dict[str, float]:
        """The BGP lines of a speaker's /metrics (it listens on 127.0.0.1 in its namespace)."""
        text = self.lab.lan.run(self.lab.ns[name], _scrape)
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("lbctl_speaker_bgp")}

    def lease_annotation(self, name: str, key: str) -> str | None:
        lease = self.api.get_object("leases", f"lbctl-speaker-{name}", "kube-system") or {}
        return ((lease.get("metadata") or {}).get("annotations") or {}).get(key)

    def close(self) -> None:
        try:
            if self.bird is not None:
                self.bird.close()
        finally:
            self.lab.close()


def _scrape() -> str:
    with urllib.request.urlopen("http://127.0.0.1:7473/metrics", timeout=5) as answer:
        return str(answer.read().decode())
