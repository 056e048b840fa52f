"""``lbctl speaker status`` and the owner ``svc show`` prints: the ownership every speaker
computes, from one read of the cluster.

One LIST each of Services, EndpointSlices, Nodes and the speakers' Leases, plus the state; the
rule is :func:`lbctl.core.speakers.status` (which calls :func:`lbctl.core.ownership.owners`,
the same call the speakers make).

Error policy: errors of the :class:`~lbctl.ports.KubeAPI` port pass through.
"""

from __future__ import annotations

from datetime import datetime

from lbctl.core import speakers
from lbctl.core.speakers import SpeakerInfo, Status
from lbctl.core.state import State
from lbctl.ports import ENDPOINTSLICES, LEASES, NODES, SERVICES, KubeAPI

__all__ = ["SpeakerInfo", "Status", "status"]


def status(kube: KubeAPI, state: State, now: datetime, *, lease_namespace: str,
           skew: float = 1.0) -> Status:
    return speakers.status(state, kube.list(SERVICES), kube.list(ENDPOINTSLICES),
                           kube.list(NODES), kube.list(LEASES, lease_namespace), now, skew=skew)
