"""What doctor knows about a cluster (or a directory of manifests) before judging it.

:class:`Facts` is a plain value: the state document's text, the objects read from the API server
or from files, the answers to permission reviews and ARP/NDP probes.  Each fact is either known
or :class:`Absent` with the reason it is not (offline, forbidden, not asked for), so that a check
needing it is reported as skipped with that reason instead of passing on missing data.

:mod:`lbctl.doctor.gather` fills it in; :mod:`lbctl.doctor.checks` reads it.  Nothing here does
I/O or raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar, Union

from lbctl.core.permissions import Permission
from lbctl.nodeports import Probed
from lbctl.ports import Obj

T = TypeVar("T")


@dataclass(frozen=True)
class Absent:
    """A fact doctor does not have, and why (shown as the reason a check was skipped)."""

    reason: str


#: A fact, or the reason it is missing.
Known = Union[T, Absent]

Mode = Literal["live", "offline"]


@dataclass(frozen=True)
class StateText:
    """The state document as stored (``text`` is None when none exists yet, or when it cannot
    be read as text: then ``problem`` says why)."""

    text: str | None
    source: str  # "ConfigMap kube-system/lbctl-state", "state file lb.yaml"
    problem: str = ""


@dataclass(frozen=True)
class ProxyConfigText:
    """kube-proxy's configuration: a KubeProxyConfiguration document, or ``config.conf``."""

    text: str
    source: str  # "ConfigMap kube-system/kube-proxy", "file kube-proxy.yaml"


@dataclass(frozen=True)
class ProbeFailed:
    """``--probe`` was asked for and could not run (no CAP_NET_RAW, no route...)."""

    reason: str


@dataclass(frozen=True)
class Facts:
    mode: Mode
    #: "context fake (https://127.0.0.1:6443)" or "3 files"; shown at the top of the report.
    source: str
    state: Known[StateText]
    services: Known[list[Obj]]
    nodes: Known[list[Obj]]
    endpoint_slices: Known[list[Obj]]
    #: None: there is no kube-proxy ConfigMap (k3s/RKE2, or kube-proxy replaced by the CNI).
    kube_proxy: Known[ProxyConfigText | None]
    #: Pods in kube-system: RKE2's kube-proxy static pods, k3s ServiceLB pods.
    system_pods: Known[list[Obj]]
    #: Deployments and DaemonSets (all namespaces).
    workloads: Known[list[Obj]]
    #: ConfigMaps other implementations keep their configuration in (kubevip, cilium-config).
    configmaps: Known[list[Obj]]
    #: Custom resources of other implementations (MetalLB IPAddressPools, Cilium pools, ...).
    custom: Known[list[Obj]]
    #: Each permission lbctl needs, and whether the current identity holds it.
    permissions: Known[list[tuple[Permission, bool]]]
    #: What answered the ARP/NDP probe of each allocated address; Absent when not asked for.
    probes: Known[list[Probed]] | ProbeFailed
    #: The controller's leader Lease (None: there is none), and when it was read.
    controller_lease: Known[Obj | None] = Absent("offline: no cluster to ask")
    #: The speakers' Leases (``lbctl-speaker-<node>`` in kube-system: liveness, health reports,
    #: MACs), so that ``--probe`` can compare who answers with the computed owner.
    speaker_leases: Known[list[Obj]] = Absent("offline: no cluster to ask")
    read_at: datetime | None = None
    #: Offline: the ``lbctl assign -f ... --state FILE`` command that works on these files
    #: (hints name it); "" on a live cluster.
    assign_command: str = ""
    #: Offline: `` --state FILE``, which the lbctl commands hints name need to change the state
    #: of these files rather than a cluster's; "" on a live cluster (or without a state file).
    state_option: str = ""
    #: Calico's BGPConfigurations and BGPPeers (empty: Calico's BGP is not configured).
    calico: Known[list[Obj]] = Absent("Calico's resources were not read")
