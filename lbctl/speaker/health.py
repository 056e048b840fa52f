"""The speaker's local health checks (``lbctl.io/health-check`` on a Service).

A speaker checks, on its own node, every NodePort of each Service that asks for a check, the
way an external load balancer would: TCP connect, or HTTP GET of the path.  A Service fails
here when any of its ports fails; the speaker then reports it on its Lease and every speaker
leaves this node out of that Service's candidates (:func:`lbctl.core.ownership.owners`), so
the address moves to a node that serves it.  The probing goes through the
:class:`~lbctl.nodeports.Prober` port.
"""

from __future__ import annotations

from collections.abc import Callable

from lbctl.core import ownership
from lbctl.core import service as svc_core
from lbctl.core.state import ServiceKey
from lbctl.nodeports import Prober
from lbctl.speaker.loop import Facts


def local_checks(prober: Prober, node: str, *, timeout: float = 1.0
                 ) -> Callable[[Facts], set[ServiceKey]]:
    """A function of the current facts -> the Services whose check fails on ``node``."""

    def failing(facts: Facts) -> set[ServiceKey]:
        host = next((ownership.node_address(n) for n in facts.nodes
                     if (n.get("metadata") or {}).get("name") == node), None) or "127.0.0.1"
        found = set()
        for svc in facts.services:
            check = ownership.health_check(svc)
            if check is None or not svc_core.is_ours(svc):
                continue
            path = check.path if check.kind == "http" else None
            for port in (svc.get("spec") or {}).get("ports") or []:
                node_port = port.get("nodePort")
                if not isinstance(node_port, int):
                    continue
                if not prober.check(host, node_port, http_path=path, timeout=timeout).ok:
                    found.add(svc_core.key_of(svc))
                    break
        return found

    return failing
