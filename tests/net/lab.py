"""A small cluster in network namespaces: the fake apiserver on a bridge, nodes running
``lbctl speaker`` as real processes, and a client.

Topology (all on one :class:`~tests.net.netns.Lan`): ``cp`` (10.9.0.250) where the fake
kube-apiserver listens, ``n1``..``nN`` (10.9.0.11.., fd00:9::11..) each running
``python -m lbctl speaker --node nK``, and ``client`` (10.9.0.2, fd00:9::2).

The fake apiserver runs in the test process, in a thread, on a socket opened inside ``cp``
(the opening thread joins ``cp`` with setns(2) and returns; the socket stays there), so tests
change cluster objects directly (``lab.api.put_object``).  Speakers are started and stopped by
PID (:meth:`Lab.kill`, :meth:`Lab.close`); everything is removed by :meth:`Lab.close`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lbctl.core import ownership
from lbctl.net.announcer import RawAnnouncer
from tests.kubefake.server import FakeKubeServer
from tests.net.netns import CLONE_NEWNET, Lan

API_IP = "10.9.0.250"
CLIENT_IP = "10.9.0.2"
CLIENT_IP6 = "fd00:9::2"
VIP = "10.9.0.100"
VIP6 = "fd00:9::100"

STATE = """\
schemaVersion: 1
pools:
  lan:
    addresses: [10.9.0.100-10.9.0.120, 'fd00:9::100-fd00:9::120']
{lan_interfaces}{extra_pools}allocations:
  shop:
{allocations}"""


def _in_namespace(namespace: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread that joined ``namespace``: sockets it opens live there."""
    result: dict[str, Any] = {}

    def target() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            result["error"] = exc
        finally:
            os.close(fd)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def service(name: str, ips: Iterable[str], *, policy: str = "Cluster",
            annotations: dict[str, str] | None = None, node_port: int = 30080) -> dict[str, Any]:
    ips = list(ips)
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy,
                 "ipFamilies": ["IPv6" if ":" in ips[0] else "IPv4"] if ips else ["IPv4"],
                 "ports": [{"port": 80, "protocol": "TCP", "nodePort": node_port}]},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def endpoint_slice(name: str, nodes: Iterable[str], *, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-abc", "namespace": "shop",
                     "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.244.0.{i + 1}"], "nodeName": node,
                       "conditions": {"ready": ready}} for i, node in enumerate(nodes)],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }


def node(name: str, ip: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels or {}},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


class Lab:
    """The namespaces, the fake apiserver, the speakers."""

    def __init__(self, lan: Lan, tmp: Path, nodes: int = 3) -> None:
        self.lan = lan
        self.tmp = tmp
        self.cp = lan.host("cp", f"{API_IP}/24")
        self.client = lan.host("client", f"{CLIENT_IP}/24", f"{CLIENT_IP6}/64")
        self.nodes = [f"n{i}" for i in range(1, nodes + 1)]
        self.ns: dict[str, str] = {}
        self.ip: dict[str, str] = {}
        for i, name in enumerate(self.nodes, start=11):
            self.ip[name] = f"10.9.0.{i}"
            self.ns[name] = lan.host(name, f"10.9.0.{i}/24", f"fd00:9::{i:x}/64")
        self.macs = {name: lan.mac(ns) for name, ns in self.ns.items()}
        self.api = _in_namespace(self.cp, lambda: FakeKubeServer(host=API_IP)).start()
        self.kubeconfig = self.api.write_kubeconfig(tmp / "kubeconfig")
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.logs: dict[str, Path] = {}
        for name in self.nodes:
            self.api.put_object(node(name, self.ip[name]))

    # -- cluster objects --------------------------------------------------------------------

    def set_state(self, allocations: dict[str, list[str]],
                  pools: dict[str, tuple[str, list[str]]] | None = None,
                  interfaces: Iterable[str] = ()) -> None:
        """Record ``allocations`` (Service name -> IPs) in pool ``lan`` (or the pool named in
        ``pools``: name -> (its addresses, its node selectors)); ``interfaces``: pool
        ``lan``'s."""
        extra = ""
        for pool, (addresses, selectors) in (pools or {}).items():
            extra += f"  {pool}:\n    addresses: [{addresses}]\n"
            if selectors:
                extra += f"    nodeSelectors: [{', '.join(selectors)}]\n"
        lines = "".join(
            f"    {svc}: {{ips: [{', '.join(repr(ip) for ip in ips)}], "
            f"pool: {self._pool_of(ips[0], pools)}}}\n"
            for svc, ips in allocations.items())
        named = list(interfaces)
        text = STATE.format(
            lan_interfaces=f"    interfaces: [{', '.join(named)}]\n" if named else "",
            extra_pools=extra, allocations=lines or "    {}\n")
        self.api.put_object({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
            "data": {"state.yaml": text},
        })

    @staticmethod
    def _pool_of(ip: str, pools: dict[str, tuple[str, list[str]]] | None) -> str:
        for name, (addresses, _) in (pools or {}).items():
            first, _, last = addresses.partition("-")
            if first <= ip <= (last or first):
                return name
        return "lan"

    def owner(self, ip: str, live: Iterable[str] | None = None) -> str | None:
        """The owner of ``ip`` by the core rule, from what the fake apiserver holds (the
        nodes' interfaces as their Leases publish them)."""
        from lbctl.core import service as svc_core
        from lbctl.core.speakers import interfaces_of
        from lbctl.speaker.loop import read_state

        state = read_state(self.api.get_object("configmaps", "lbctl-state", "kube-system"))
        candidates = ownership.announced(
            state, self.api.objects_of("services"),
            svc_core.ready_nodes(self.api.objects_of("endpointslices")))
        nodes = {f.name: f for f in map(ownership.node_facts, self.api.objects_of("nodes"))}
        result = ownership.owners(candidates, nodes, self.nodes if live is None else live,
                                  state.pools,
                                  interfaces=interfaces_of(self.api.objects_of("leases")))
        return result.owner_of(ip)

    # -- speakers ---------------------------------------------------------------------------

    def start(self, *names: str, extra: Iterable[str] = (), wait: bool = True) -> None:
        for name in names or self.nodes:
            log = self.tmp / f"speaker-{name}.log"
            self.logs[name] = log
            command = ["ip", "netns", "exec", self.ns[name], sys.executable, "-m", "lbctl",
                       "speaker", "--node", name, "--kubeconfig", str(self.kubeconfig),
                       "--metrics-addr", "127.0.0.1:7473", *extra]
            env = {**os.environ, "NO_COLOR": "1"}
            self.procs[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                                stderr=log.open("w"), text=True, env=env)
        if wait:
            self.wait_started(*(names or self.nodes))

    def wait_started(self, *names: str, within: float = 60.0) -> None:
        """Until every speaker named holds its Lease (start-up is slow on a loaded machine)."""
        deadline = time.monotonic() + within
        for name in names:
            while True:
                lease = self.api.get_object("leases", f"lbctl-speaker-{name}", "kube-system")
                if lease is not None and lease["spec"].get("holderIdentity") == name:
                    break
                if self.procs[name].poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"speaker {name} did not start:\n{self.log(name)}")
                time.sleep(0.05)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        os.kill(proc.pid, sig)
        proc.wait(timeout=15)

    def log(self, name: str) -> str:
        return self.logs[name].read_text() if name in self.logs else ""

    def close(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        self.api.stop()

    # -- what the client sees ---------------------------------------------------------------

    def probe(self, ips: list[str], timeout: float = 0.3) -> list[tuple[str, ...]]:
        return self.lan.run(self.client, _probe, ips, timeout)

    def node_of_mac(self, mac: str) -> str | None:
        return next((n for n, m in self.macs.items() if m == mac), None)

    def answering(self, ip: str, timeout: float = 0.3) -> list[str | None]:
        """The nodes whose MAC answers a probe for ``ip`` from the client."""
        return [self.node_of_mac(m) for m in self.probe([ip], timeout)[0]]

    def wait_for(self, ip: str, expected: list[str | None], within: float = 10.0) -> float:
        """Probe until exactly ``expected`` answer; seconds it took (AssertionError if not)."""
        start = time.monotonic()
        seen: list[str | None] = []
        while time.monotonic() - start < within:
            seen = self.answering(ip)
            if seen == expected:
                return time.monotonic() - start
        logs = "\n".join(f"--- {n}\n{self.log(n)[-3000:]}" for n in self.nodes)
        raise AssertionError(f"{ip}: answering {seen}, expected {expected}\n{logs}")


def _probe(ips: list[str], timeout: float) -> list[tuple[str, ...]]:
    return [p.macs for p in RawAnnouncer().probe(ips, interface=None, timeout=timeout)]
