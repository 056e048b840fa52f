"""``svc check``: are a Service's LoadBalancer ports served, on the VIP and on every node?

For each TCP port of each Service asked for, one probe of every published address (``vip``)
and one of the port's NodePort on every node (at the node's address,
:func:`lbctl.core.ownership.node_address`), TCP connect or HTTP GET of a path, through the
:class:`~lbctl.nodeports.Prober` port.  A port is healthy when at least one backend answers; the
command's exit code follows :attr:`Report.ok`.  UDP and SCTP ports are listed, not probed.

Probes run concurrently (a thread pool), so a dead node costs one timeout, not one per port.
Errors: :class:`~lbctl.errors.NotFoundError` for an unknown Service (from the port); a Service
that is not of type LoadBalancer is refused with :class:`~lbctl.errors.RefusedError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lbctl.core import ownership
from lbctl.core import service as svc_core
from lbctl.core.state import ServiceKey
from lbctl.errors import RefusedError
from lbctl.nodeports import Prober, ProbeResult
from lbctl.ports import NODES, SERVICES, KubeAPI, Obj

#: How many probes run at once.
PARALLEL = 32


@dataclass(frozen=True)
class Backend:
    target: str  # "vip", or the node's name
    address: str
    port: int
    result: ProbeResult | None  # None: not probed (UDP)


@dataclass(frozen=True)
class PortCheck:
    port: str  # "80/TCP"
    backends: tuple[Backend, ...]

    @property
    def probed(self) -> bool:
        return any(b.result is not None for b in self.backends)

    @property
    def healthy(self) -> bool:
        return not self.probed or any(b.result is not None and b.result.ok
                                      for b in self.backends)


@dataclass(frozen=True)
class ServiceCheck:
    key: ServiceKey
    ports: tuple[PortCheck, ...]


@dataclass(frozen=True)
class Report:
    services: tuple[ServiceCheck, ...]

    @property
    def ok(self) -> bool:
        return all(p.healthy for s in self.services for p in s.ports)


def targets(kube: KubeAPI, namespace: str | None, name: str | None) -> list[Obj]:
    """The Service named, or (``name`` None) every Service of ours with a published address."""
    if name is not None:
        svc = kube.get(SERVICES, name, namespace)
        if not svc_core.is_load_balancer(svc):
            raise RefusedError(f"service {namespace}/{name} is not of type LoadBalancer",
                               hint="svc check probes LoadBalancer ports")
        return [svc]
    return [s for s in kube.list(SERVICES, namespace)
            if svc_core.is_ours(s) and svc_core.ingress_ips(s)]


def check(kube: KubeAPI, prober: Prober, services: Sequence[Obj], *,
          http_path: str | None = None, timeout: float = 1.0) -> Report:
    nodes = [(str((n.get("metadata") or {}).get("name") or ""), ownership.node_address(n))
             for n in kube.list(NODES)]
    plan: list[tuple[ServiceKey, str, list[tuple[str, str, int, bool]]]] = []
    for svc in services:
        key = svc_core.key_of(svc)
        for port in (svc.get("spec") or {}).get("ports") or []:
            protocol = str(port.get("protocol") or "TCP")
            probe = protocol == "TCP"
            backends = [("vip", ip, int(port.get("port") or 0), probe)
                        for ip in svc_core.ingress_ips(svc)]
            node_port = port.get("nodePort")
            if isinstance(node_port, int):
                backends += [(name, address, node_port, probe) for name, address in nodes
                             if address]
            plan.append((key, f"{port.get('port')}/{protocol}", backends))
    jobs = [(address, number) for _, _, backends in plan
            for _, address, number, probe in backends if probe]
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(jobs)))) as pool:
        results = dict(zip(jobs, pool.map(
            lambda job: prober.check(job[0], job[1], http_path=http_path, timeout=timeout),
            jobs), strict=True))
    found: dict[ServiceKey, list[PortCheck]] = {}
    for key, label, backends in plan:
        found.setdefault(key, []).append(PortCheck(label, tuple(
            Backend(target, address, number, results[(address, number)] if probe else None)
            for target, address, number, probe in backends)))
    return Report(tuple(ServiceCheck(key, tuple(ports)) for key, ports in found.items()))
