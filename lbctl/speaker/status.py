"""``lbctl speaker status`` and the owner ``svc show`` prints: the ownership every speaker
computes, from one read of the cluster.

One LIST each of Services, EndpointSlices, Nodes and the speakers' Leases, plus the state; the
rule is :func:`lbctl.core.ownership.owners`, the same call the speakers make.  A speaker counts
as alive here when its Lease is fresh by its timestamps (:func:`lbctl.core.leases.is_fresh`,
with ``skew`` seconds forgiven): a one-shot reader has no history of observations.

Error policy: errors of the :class:`~lbctl.ports.KubeAPI` port pass through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lbctl.core import leases, ownership
from lbctl.core import service as svc_core
from lbctl.core.ownership import Ownership
from lbctl.core.state import State
from lbctl.ports import ENDPOINTSLICES, LEASES, NODES, SERVICES, KubeAPI
from lbctl.speaker.loop import LEASE_PREFIX, unhealthy_of


@dataclass(frozen=True)
class SpeakerInfo:
    node: str
    alive: bool
    renewed: datetime | None
    unfit: str  # why the node announces nothing, or ""
    unhealthy: tuple[str, ...]  # Services whose health check fails there (ns/name)


@dataclass(frozen=True)
class Status:
    ownership: Ownership
    speakers: tuple[SpeakerInfo, ...]


def status(kube: KubeAPI, state: State, now: datetime, *, lease_namespace: str,
           skew: float = 1.0) -> Status:
    services = kube.list(SERVICES)
    slices = kube.list(ENDPOINTSLICES)
    nodes = {f.name: f for f in map(ownership.node_facts, kube.list(NODES))}
    infos = []
    live = set()
    failing: dict[tuple[str, str], set[str]] = {}
    for lease in kube.list(LEASES, lease_namespace):
        name = str((lease.get("metadata") or {}).get("name") or "")
        if not name.startswith(LEASE_PREFIX):
            continue
        node = name[len(LEASE_PREFIX):]
        record = leases.record_of(lease)
        alive = record.holder == node and leases.is_fresh(record, now, skew=skew)
        if alive:
            live.add(node)
        bad = unhealthy_of(lease)
        for key in bad:
            failing.setdefault(key, set()).add(node)
        facts = nodes.get(node)
        infos.append(SpeakerInfo(
            node=node, alive=alive, renewed=record.renewed,
            unfit=ownership.NO_NODE if facts is None else facts.unfit(),
            unhealthy=tuple(f"{ns}/{n}" for ns, n in sorted(bad))))
    candidates = ownership.announced(state, services, svc_core.ready_nodes(slices))
    result = ownership.owners(candidates, nodes, live, state.pools, failing)
    return Status(result, tuple(sorted(infos, key=lambda i: i.node)))
