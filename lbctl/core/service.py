"""A Service object, as lbctl reads it: what it asks of the allocator and where it stands.

Owns the translation of a Service (the JSON dictionary the API server sends, or a manifest
document) into an allocator :class:`~lbctl.core.allocator.Request`, and the comparison of its
``status.loadBalancer.ingress`` with the state.  The rules, in one place:

* **Ours**: ``spec.type: LoadBalancer`` with ``spec.loadBalancerClass`` unset or set to lbctl's
  own class :data:`LBCTL_CLASS` (``lbctl.io/lbctl``).  A Service of another class belongs to
  another controller and is never touched (state ``foreign``).
* **Requested addresses**: the command's ``--ip``/``--pool`` flags; MetalLB's annotations
  ``loadBalancerIPs`` (comma list) and ``address-pool``, read under ``metallb.io/`` and the
  older ``metallb.universe.tf/`` (when the ``metallb.io/`` key is present it wins, even when
  empty, as in MetalLB); kube-vip's ``kube-vip.io/loadbalancerIPs``; Cilium's
  ``lbipam.cilium.io/ips`` (and ``io.cilium/lb-ipam-ips``); ``spec.loadBalancerIP``.  Every
  request present must name the same addresses (and the same pool): a Service whose requests
  disagree, or whose requests disagree with the flags, is refused naming both values
  (:data:`CONFLICTING`), as MetalLB refuses one.  No request: any address.
* **IP families** from ``spec.ipFamilies`` (primary first) and ``spec.ipFamilyPolicy``:
  ``SingleStack`` takes the first family, ``RequireDualStack`` needs both, ``PreferDualStack``
  takes what the pools have.  Absent fields mean IPv4 single stack: the API server always fills
  them in, so they are absent only in manifests, where IPv4 is the usual default.
* **Sharing**: the key is the ``allow-shared-ip`` annotation (else Cilium's ``sharing-key``);
  ports are ``TCP/80`` (protocol defaults to TCP); the backend is ``""`` for
  ``externalTrafficPolicy: Cluster`` and the normalised pod selector (``app=web,tier=fe``)
  for ``Local``, because only nodes with endpoints may announce a Local Service's address.
* **Which Services get an address** (:func:`needs_address`, :func:`to_assign`): lbctl's
  Services whose status shows no address -- the pending ones and those recorded but not yet
  published -- in namespace/name order.  ``assign --all``, ``reconcile``, doctor's prediction
  and the controller all pick them so.
* **Used addresses** (:func:`published`): what every Service's status shows, ours or not, any
  class; the allocator never hands those out to another Service.
* **Orphans** (:func:`orphans`): an allocation whose Service is gone, no longer of type
  LoadBalancer, or now of another class.  ``reconcile`` forgets it (withdrawing the address from
  the status first when the Service is no other controller's and shows only that address);
  doctor reports it, in the same words.
* **State** (``svc list``): ``assigned`` (status shows exactly the recorded addresses),
  ``pending`` (neither shows any), ``drift`` (they disagree: recorded but not published, shown
  but not recorded, or different), ``foreign`` (another class).

Pure: no I/O and no clock (:func:`age` takes ``now``).  Malformed requests (an annotation that
is not a list of IPs, two families without a dual-stack policy) raise
:class:`~lbctl.errors.UsageError` naming the Service; :func:`check_ours` raises
:class:`~lbctl.errors.RefusedError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from lbctl.core.addresses import FAMILY_NAMES, IPV4, IPV6, canonical_ip, parse_ip, parse_vip
from lbctl.core.state import Allocation, ServiceKey
from lbctl.errors import LbctlError, RefusedError, UsageError

if TYPE_CHECKING:  # imported where a request is built: reading a Service needs no allocator
    from lbctl.core.allocator import AllocationError, Request

#: The ``spec.loadBalancerClass`` lbctl answers to, besides no class at all.
LBCTL_CLASS = "lbctl.io/lbctl"

#: MetalLB's annotation prefixes, the current one first.
PREFIXES = ("metallb.io/", "metallb.universe.tf/")
IPS = "loadBalancerIPs"
POOL = "address-pool"
SHARED = "allow-shared-ip"

#: Address requests of other implementations, honoured as MetalLB's: kube-vip's, and Cilium's
#: LB-IPAM (its current spelling and the older ``io.cilium/`` one).  Comma-separated lists.
OTHER_IP_ANNOTATIONS = ("kube-vip.io/loadbalancerIPs", "lbipam.cilium.io/ips",
                        "io.cilium/lb-ipam-ips")
#: Cilium's sharing key, read when MetalLB's ``allow-shared-ip`` is absent.
OTHER_SHARING_ANNOTATIONS = ("lbipam.cilium.io/sharing-key", "io.cilium/lb-ipam-sharing-key")
#: The reason when two requests of one Service (annotations, spec.loadBalancerIP, --ip/--pool)
#: disagree.
CONFLICTING = "ConflictingRequests"

#: Where ``assign -f`` pins an address: read by MetalLB and lbctl, and able to carry two
#: families, unlike ``spec.loadBalancerIP`` (deprecated since Kubernetes 1.24, one address).
PIN_ANNOTATION = PREFIXES[0] + IPS

ASSIGNED = "assigned"
PENDING = "pending"
DRIFT = "drift"
FOREIGN = "foreign"
IGNORED = "ignored"  # not of type LoadBalancer: gets no external address (``svc show`` only)

#: Kinds of drift, for ``reconcile``: what it repairs (unpublished) and what it only reports.
UNPUBLISHED = "unpublished"  # the state records addresses the status does not show
UNRECORDED = "unrecorded"  # the status shows addresses the state does not record
MISMATCH = "mismatch"  # both show addresses, and they differ

_FAMILIES = {name: family for family, name in FAMILY_NAMES.items()}  # "IPv4" -> 4

Obj = Mapping[str, Any]
ObjT = TypeVar("ObjT", bound=Obj)


# --------------------------------------------------------------------------- identity


def key_of(svc: Obj, default_namespace: str = "default") -> ServiceKey:
    """``(namespace, name)``; a manifest without a namespace is in ``default_namespace``."""
    meta = svc.get("metadata") or {}
    return (str(meta.get("namespace") or default_namespace), str(meta.get("name") or ""))


def ref(svc: Obj, default_namespace: str = "default") -> str:
    namespace, name = key_of(svc, default_namespace)
    return f"{namespace}/{name}"


def _spec(svc: Obj) -> Mapping[str, Any]:
    return svc.get("spec") or {}


def is_load_balancer(svc: Obj) -> bool:
    return _spec(svc).get("type") == "LoadBalancer"


def lb_class(svc: Obj) -> str | None:
    value = _spec(svc).get("loadBalancerClass")
    return str(value) if value else None


def is_foreign(svc: Obj) -> bool:
    """Another controller's Service: a ``loadBalancerClass`` that is not lbctl's."""
    cls = lb_class(svc)
    return cls is not None and cls != LBCTL_CLASS


def is_ours(svc: Obj) -> bool:
    return is_load_balancer(svc) and not is_foreign(svc)


def check_ours(svc: Obj, default_namespace: str = "default") -> None:
    """Refuse a Service lbctl must not give an address to, saying why."""
    who = ref(svc, default_namespace)
    if not is_load_balancer(svc):
        kind = _spec(svc).get("type") or "ClusterIP"
        raise RefusedError(
            f"service {who} is of type {kind}, not LoadBalancer",
            hint="only Services of type LoadBalancer get an external address",
        )
    if is_foreign(svc):
        raise RefusedError(
            f"service {who} has loadBalancerClass {lb_class(svc)}; another controller owns it",
            hint=f"lbctl serves Services without a class or with class {LBCTL_CLASS}",
        )


# --------------------------------------------------------------------------- the request


def annotation(svc: Obj, name: str) -> tuple[str, str] | None:
    """``(key, value)`` of MetalLB annotation ``name`` under the first prefix present."""
    annotations = (svc.get("metadata") or {}).get("annotations") or {}
    for prefix in PREFIXES:
        if prefix + name in annotations:
            return prefix + name, str(annotations[prefix + name] or "")
    return None


class Asked(NamedTuple):
    """The explicit part of a request and where it came from (shown by ``svc show``)."""

    ips: tuple[str, ...] = ()
    pool: str | None = None
    source: str = "automatic"


def _ip_list(text: str, svc: Obj, where: str) -> tuple[str, ...]:
    try:
        addrs = [parse_ip(part.strip()) for part in text.split(",")]
    except LbctlError as exc:
        raise UsageError(
            f"service {ref(svc)}: {where} is {text!r}, not a list of IP addresses",
            hint="write one address per family, comma-separated: 192.0.2.10,2001:db8::10",
        ) from exc
    for addr in addrs:
        try:
            parse_vip(str(addr))
        except UsageError as exc:
            raise UsageError(f"service {ref(svc)}: {where}: {exc.message}", exc.hint) from exc
    return tuple(str(addr) for addr in addrs)


def flag_ips(ips: Sequence[str]) -> tuple[str, ...]:
    """The addresses of ``--ip`` flags, canonical; one that is not an address, or can never be
    a VIP, is a :class:`~lbctl.errors.UsageError`."""
    return tuple(str(parse_vip(ip)) for ip in ips)


def _annotations(svc: Obj) -> Mapping[str, Any]:
    return (svc.get("metadata") or {}).get("annotations") or {}


def _own_ips(svc: Obj) -> list[tuple[str, tuple[str, ...]]]:
    """Every address request the Service carries, ``(where, addresses)``: MetalLB's annotation,
    kube-vip's, Cilium's, then ``spec.loadBalancerIP``."""
    found: list[tuple[str, tuple[str, ...]]] = []
    metallb = annotation(svc, IPS)
    if metallb and metallb[1]:
        found.append((metallb[0], _ip_list(metallb[1], svc, metallb[0])))
    annotations = _annotations(svc)
    for key in OTHER_IP_ANNOTATIONS:
        value = str(annotations.get(key) or "")
        if value:
            found.append((key, _ip_list(value, svc, key)))
    legacy = str(_spec(svc).get("loadBalancerIP") or "")
    if legacy:
        wanted = _ip_list(legacy, svc, "spec.loadBalancerIP")
        if len(wanted) > 1:
            raise UsageError(f"service {ref(svc)}: spec.loadBalancerIP holds one address",
                             hint=f"use the annotation {PIN_ANNOTATION} for two")
        found.append(("spec.loadBalancerIP", wanted))
    return found


def _disagree(svc: Obj, first: tuple[str, str], second: tuple[str, str]) -> AllocationError:
    from lbctl.core.allocator import AllocationError

    return AllocationError(
        CONFLICTING,
        f"service {ref(svc)} asks for two different things: {first[0]} is {first[1]}, "
        f"{second[0]} is {second[1]}",
        hint="keep one request, or make them agree (MetalLB refuses such a Service too)",
    )


def _agreed(svc: Obj, found: Sequence[tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
    """The one set of addresses all of ``found`` name; refused when two disagree."""
    if not found:
        return ()
    where, wanted = found[0]
    for other, theirs in found[1:]:
        if set(theirs) != set(wanted):
            raise _disagree(svc, (where, ",".join(wanted)), (other, ",".join(theirs)))
    return wanted


def asked(svc: Obj, ips: Sequence[str] = (), pool: str | None = None) -> Asked:
    """The explicit addresses and pool, from the ``--ip``/``--pool`` flags and the Service's own
    requests (MetalLB's, kube-vip's and Cilium's annotations, ``spec.loadBalancerIP``, MetalLB's
    ``address-pool`` annotation).  Requests that disagree are refused
    (:class:`~lbctl.core.allocator.AllocationError` ``ConflictingRequests``), naming both."""
    found = _own_ips(svc)
    if ips:
        found.insert(0, ("--ip", flag_ips(ips)))
    wanted = _agreed(svc, found)
    sources = [where for where, _ in found]
    found_pool = annotation(svc, POOL)
    own_pool = found_pool[1] if found_pool and found_pool[1] else None
    if own_pool and found_pool:
        if pool and pool != own_pool:
            raise _disagree(svc, ("--pool", pool), (found_pool[0], own_pool))
        sources.append(found_pool[0])
    if pool:
        sources.insert(1 if ips else 0, "--pool")
    flags = [s for s in sources if s.startswith("--")]
    rest = [s for s in sources if not s.startswith("--")]
    source = ", ".join((["flags"] if flags else []) + rest) or "automatic"
    return Asked(wanted, pool or own_pool, source)


def families(svc: Obj) -> tuple[tuple[int, ...], bool]:
    """Wanted families, primary first, and whether all of them are required."""
    spec = _spec(svc)
    named = spec.get("ipFamilies") or []
    unknown = [f for f in named if f not in _FAMILIES]
    if unknown or len(set(named)) != len(named):
        raise UsageError(
            f"service {ref(svc)}: spec.ipFamilies {named} is not a list of distinct "
            "IPv4/IPv6",
            hint="use IPv4, IPv6, or both",
        )
    given = tuple(_FAMILIES[f] for f in named)
    policy = spec.get("ipFamilyPolicy") or "SingleStack"
    if policy == "SingleStack":
        if len(given) > 1:
            raise UsageError(
                f"service {ref(svc)} lists two ipFamilies but ipFamilyPolicy is SingleStack",
                hint="set ipFamilyPolicy to PreferDualStack or RequireDualStack",
            )
        return given or (IPV4,), True
    if policy not in ("PreferDualStack", "RequireDualStack"):
        raise UsageError(
            f"service {ref(svc)}: unknown ipFamilyPolicy {policy!r}",
            hint="use SingleStack, PreferDualStack or RequireDualStack",
        )
    primary = given[0] if given else IPV4
    both = given if len(given) == 2 else (primary, IPV6 if primary == IPV4 else IPV4)
    return both, policy == "RequireDualStack"


def family_names(svc: Obj) -> list[str]:
    wanted, _ = families(svc)
    return [FAMILY_NAMES[f] for f in wanted]


def ports(svc: Obj) -> tuple[str, ...]:
    """``("TCP/80", "UDP/53")``: what an address shared with another Service must not reuse."""
    found = {f"{p.get('protocol') or 'TCP'}/{p.get('port')}" for p in _spec(svc).get("ports") or []}
    return tuple(sorted(found))


def traffic_policy(svc: Obj) -> str:
    return str(_spec(svc).get("externalTrafficPolicy") or "Cluster")


def backend(svc: Obj) -> str:
    """``""`` for Cluster traffic; for Local, the pod selector (``app=web,tier=fe``)."""
    if traffic_policy(svc) != "Local":
        return ""
    selector = _spec(svc).get("selector") or {}
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def sharing_key(svc: Obj) -> str:
    """MetalLB's ``allow-shared-ip`` annotation, else Cilium's ``sharing-key``; refused when both
    are set and differ."""
    found = annotation(svc, SHARED)
    annotations = _annotations(svc)
    cilium = next(((key, str(annotations[key])) for key in OTHER_SHARING_ANNOTATIONS
                   if annotations.get(key)), None)
    if found and found[1] and cilium and cilium[1] != found[1]:
        raise _disagree(svc, found, cilium)
    if found and found[1]:
        return found[1]
    return cilium[1] if cilium else ""


def request(svc: Obj, ips: Sequence[str] = (), pool: str | None = None,
            default_namespace: str = "default") -> Request:
    """What ``svc`` asks of the allocator, with ``ips``/``pool`` (the flags) taking precedence."""
    from lbctl.core.allocator import Request

    namespace, name = key_of(svc, default_namespace)
    wanted, require_all = families(svc)
    explicit = asked(svc, ips, pool)
    return Request(
        namespace=namespace,
        name=name,
        labels=dict((svc.get("metadata") or {}).get("labels") or {}),
        families=wanted,
        require_all=require_all,
        ips=explicit.ips,
        pool=explicit.pool,
        sharing_key=sharing_key(svc),
        ports=ports(svc),
        backend=backend(svc),
    )


def needs_address(svc: Obj) -> bool:
    """Does ``assign --all`` (and reconcile, doctor, the controller) allocate for ``svc``?
    lbctl's Service whose status shows no address: pending, or recorded but unpublished."""
    return is_ours(svc) and not ingress_ips(svc)


def to_assign(services: Iterable[ObjT], namespace: str | None = None) -> list[ObjT]:
    """The Services :func:`needs_address` picks, in ``namespace`` (None: all), in the order the
    allocator serves them: by namespace, then name."""
    return sorted((svc for svc in services if needs_address(svc)
                   and (namespace is None or key_of(svc)[0] == namespace)), key=key_of)


def requests(services: Iterable[Obj], default_namespace: str = "default",
             ) -> dict[ServiceKey, Request | LbctlError]:
    """Each Service's :func:`request`, or the error that says why its request is malformed;
    the input of :func:`lbctl.core.allocator.allocate_many`.  The first Service of a name
    wins."""
    found: dict[ServiceKey, Request | LbctlError] = {}
    for svc in services:
        key = key_of(svc, default_namespace)
        if key in found:
            continue
        try:
            found[key] = request(svc, default_namespace=default_namespace)
        except LbctlError as exc:
            found[key] = exc
    return found


def published(services: Iterable[Obj], default_namespace: str = "default",
              ) -> dict[ServiceKey, tuple[str, ...]]:
    """What each Service's status shows (every Service given, of any type and class): the
    ``published`` input of the allocator, which keeps those addresses from other Services."""
    return {key_of(svc, default_namespace): shown for svc in services
            if (shown := ingress_ips(svc))}


# --------------------------------------------------------------------------- where it stands


def ingress_ips(svc: Obj) -> tuple[str, ...]:
    """The addresses ``status.loadBalancer.ingress`` shows (canonical; host names ignored)."""
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    shown = []
    for entry in ingress:
        ip = entry.get("ip") if isinstance(entry, Mapping) else None
        if ip:
            try:
                shown.append(canonical_ip(str(ip)))
            except LbctlError:
                shown.append(str(ip))
    return tuple(shown)


def ingress_patch(ips: Sequence[str]) -> dict[str, Any]:
    """The merge patch for the status subresource that publishes ``ips`` (or, empty, clears)."""
    ingress: list[dict[str, str]] | None = [{"ip": ip} for ip in ips] or None
    return {"status": {"loadBalancer": {"ingress": ingress}}}


class Condition(NamedTuple):
    state: str  # ASSIGNED, PENDING, DRIFT, FOREIGN
    drift: str = ""  # UNPUBLISHED, UNRECORDED, MISMATCH when state is DRIFT
    detail: str = ""  # one line for a person; "" when assigned or pending


def condition(svc: Obj, allocation: Allocation | None) -> Condition:
    """Where a LoadBalancer Service stands, comparing its status with its allocation."""
    if not is_load_balancer(svc):
        return Condition(IGNORED, detail=f"type {_spec(svc).get('type') or 'ClusterIP'}, "
                                         "not LoadBalancer")
    if is_foreign(svc):
        return Condition(FOREIGN, detail=f"loadBalancerClass {lb_class(svc)}")
    shown = ingress_ips(svc)
    if allocation is None:
        if not shown:
            return Condition(PENDING)
        return Condition(DRIFT, UNRECORDED,
                         f"status shows {','.join(shown)}, which the state does not record")
    recorded = ",".join(allocation.ips)
    if not shown:
        return Condition(DRIFT, UNPUBLISHED,
                         f"the state records {recorded}, which the status does not show")
    if set(shown) == set(allocation.ips):
        return Condition(ASSIGNED)
    return Condition(DRIFT, MISMATCH,
                     f"status shows {','.join(shown)}, the state records {recorded}")


def shows_only(shown: Sequence[str], allocation: Allocation | None) -> bool:
    """The status shows addresses, all of them the allocation's: lbctl published them, so it
    may withdraw them; anything else there is not lbctl's to clear."""
    return allocation is not None and bool(shown) and set(shown) <= set(allocation.ips)


#: Why an allocation is an orphan (:attr:`Orphan.why`).
GONE = "gone"  # the Service does not exist
NOT_LOAD_BALANCER = "not-load-balancer"  # it exists, but is no longer of type LoadBalancer
OTHER_CLASS = "other-class"  # it is now of another loadBalancerClass: another controller's


class Orphan(NamedTuple):
    """An allocation in the state whose Service is no longer lbctl's."""

    allocation: Allocation
    why: str  # GONE, NOT_LOAD_BALANCER, OTHER_CLASS
    shown: tuple[str, ...] = ()  # what the Service's status shows now
    detail: str = ""  # what became of the Service, e.g. "does not exist" (doctor, reconcile)

    @property
    def withdraw(self) -> bool:
        """Clear the status before forgetting the allocation: it shows only this allocation's
        addresses and the Service is no other controller's.  Another class's Service keeps its
        status (not lbctl's to change); the address stays in use while it shows it."""
        return self.why == NOT_LOAD_BALANCER and shows_only(self.shown, self.allocation)


def orphans(allocations: Iterable[Allocation], services: Mapping[ServiceKey, Obj],
            ) -> list[Orphan]:
    """The allocations whose Service is gone, not of type LoadBalancer, or of another class,
    sorted by Service.  ``services``: every Service that could own one, by key."""
    found = []
    for record in sorted(allocations, key=lambda r: r.key):
        svc = services.get(record.key)
        if svc is not None and is_ours(svc):
            continue
        if svc is None:
            found.append(Orphan(record, GONE, (), "does not exist"))
            continue
        shown = ingress_ips(svc)
        if is_load_balancer(svc):
            still = (f"; its status shows {','.join(shown)}, in use while it does" if shown
                     else "")
            found.append(Orphan(record, OTHER_CLASS, shown,
                                f"now has loadBalancerClass {lb_class(svc)}{still}"))
        else:
            kind = _spec(svc).get("type") or "ClusterIP"
            found.append(Orphan(record, NOT_LOAD_BALANCER, shown,
                                f"is of type {kind}, not LoadBalancer"))
    return found


def port_list(svc: Obj) -> list[str]:
    """Ports as ``kubectl get svc`` shows them without node ports: ``80/TCP``."""
    return [f"{p.get('port')}/{p.get('protocol') or 'TCP'}" for p in _spec(svc).get("ports") or []]


def created(svc: Obj) -> datetime | None:
    text = (svc.get("metadata") or {}).get("creationTimestamp")
    if not text:
        return None
    try:  # RFC 3339 in UTC, "2024-01-01T00:00:00Z"; fromisoformat is ten times faster than
        # strptime, and on Python 3.10 does not know "Z"
        stamp = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def age(since: datetime | None, now: datetime) -> str:
    """How long ago, the way kubectl prints an AGE column: ``45s``, ``5m30s``, ``3h``, ``3d4h``,
    ``2y10d``; ``<unknown>`` without a timestamp."""
    if since is None:
        return "<unknown>"
    seconds = int((now - since).total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 10:
        return _two(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _two(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _two(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return _two(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _two(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def ready_nodes(slices: Iterable[Obj]) -> dict[ServiceKey, tuple[str, ...]]:
    """Per Service, the nodes that have a ready endpoint, or one still serving while it
    terminates (EndpointSlice ``conditions``; ``ready`` unset counts as ready, as the API
    documents).  The one rule for "may this node's endpoints take traffic", used by ``svc``,
    doctor and the speaker."""
    found: dict[ServiceKey, set[str]] = {}
    for endpoint_slice in slices:
        meta = endpoint_slice.get("metadata") or {}
        owner = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if not owner:
            continue
        nodes = found.setdefault((str(meta.get("namespace") or ""), str(owner)), set())
        for endpoint in endpoint_slice.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            usable = conditions.get("ready") is not False or conditions.get("serving") is True
            if usable and endpoint.get("nodeName"):
                nodes.add(str(endpoint["nodeName"]))
    return {key: tuple(sorted(nodes)) for key, nodes in found.items()}
