"""MetalLB, kube-vip and Cilium configuration <-> lbctl pools: pure conversions, and adopting
Service IPs.

Owns the knowledge of the other tools' formats, so that a cluster can move to lbctl and back:

* MetalLB >= 0.13: ``IPAddressPool`` (``metallb.io/v1beta1``: ``addresses``, ``autoAssign``,
  ``avoidBuggyIPs``, ``serviceAllocation`` with ``priority``, ``namespaces``,
  ``namespaceSelectors``, ``serviceSelectors``), the deprecated ``AddressPool``,
  ``L2Advertisement`` (``ipAddressPools``, ``ipAddressPoolSelectors``; ``nodeSelectors`` and
  ``interfaces`` become the covered pools' node selectors and interfaces, by MetalLB's union
  rule), ``BGPPeer`` (lbctl's BGP peers), ``BGPAdvertisement`` (the pools it selects are
  announced over BGP, with its options; ``both`` when an ``L2Advertisement`` covers them too)
  and ``Community`` (aliases);
* MetalLB < 0.13: the ConfigMap ``metallb-system/config``, key ``config``, whose ``address-pools``
  have ``name``, ``protocol`` (``bgp``: announced over BGP), ``addresses``, ``auto-assign``,
  ``avoid-buggy-ips``, ``bgp-advertisements``, with its ``peers`` and ``bgp-communities`` (a file
  holding that inner document alone is accepted too);
* kube-vip's cloud provider: the ConfigMap ``kube-system/kubevip`` with ``cidr-<scope>`` and
  ``range-<scope>`` (comma-separated; ``<scope>`` is a namespace or ``global``; ``cidr-`` wins
  over ``range-`` for one scope), ``allow-share-<scope>``, ``interface-<scope>``,
  ``search-order`` and ``skip-end-ips-in-cidr``;
* Cilium's LB IPAM: ``CiliumLoadBalancerIPPool`` (``cilium.io/v2alpha1`` or ``v2``: ``blocks``
  or the older ``cidrs``, ``disabled``, ``serviceSelector`` with the namespace label
  ``io.kubernetes.service.namespace``, ``allowFirstLastIPs``: the first and last address of a
  CIDR become reservations unless it is ``Yes``).

Import never drops anything silently: every field lbctl cannot represent is named in a warning
(BGP, namespace label selectors, kube-vip's key-less sharing, ...).  Export carves
reserved addresses out of the exported ranges (neither tool has reservations) and warns, by pool
and field, about everything else the target cannot express.

Adopting: Services that already hold an address in an imported pool (``status.loadBalancer.
ingress[].ip``) are recorded as allocations through the allocator's explicit-request path, with
the request :mod:`lbctl.core.service` reads from the Service, so every rule (pool membership,
sharing keys, ports and backends) is checked exactly as for ``assign``.

Pure: no I/O; input is parsed YAML (plain dicts) or text.  Malformed input raises
:class:`~lbctl.errors.UsageError` naming the object and field; an import goes item by item: a
pool or a Service that cannot be taken is returned as :class:`NotImported`, with the reason;
warnings are returned, never printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lbctl.core import adoption, names, service, yamlkit
from lbctl.core.addresses import AddrRange, describe, format_ip, parse_entry, parse_ip
from lbctl.core.allocator import SHARING, AllocationError, Allocator, pool_order
from lbctl.core.bgp import (
    BGP,
    BOTH,
    LAYER2,
    Advertisement,
    Peer,
    announces_bgp,
    announces_layer2,
    make_advertisement,
    make_peer,
)
from lbctl.core.interfaces import problems as interface_problems
from lbctl.core.manifests import read_objects
from lbctl.core.peers import add_peer
from lbctl.core.pools import add_pool, get_pool, make_pool
from lbctl.core.selectors import Selector, parse_selector
from lbctl.core.state import Allocation, Pool, State, advertisement_document
from lbctl.errors import NotFoundError, RefusedError, UsageError
from lbctl.ports import Obj

METALLB_NAMESPACE = names.METALLB_NAMESPACE
#: MetalLB < 0.13 kept its whole configuration in this ConfigMap, under the key ``config``.
METALLB_LEGACY_CONFIGMAP = names.METALLB_LEGACY_CONFIGMAP
METALLB_API = "metallb.io/v1beta1"
#: MetalLB's BGPPeer is served at v1beta2 (v1beta1 is read too).
METALLB_PEER_API = "metallb.io/v1beta2"
#: The L2Advertisement written by ``pool export --format metallb``: MetalLB announces only the
#: pools some advertisement names.
L2_ADVERTISEMENT = "lbctl"
KUBEVIP_NAMESPACE = names.SYSTEM_NAMESPACE
KUBEVIP_CONFIGMAP = names.KUBEVIP_CONFIGMAP
#: kube-vip serves a namespace from its own pool, and other namespaces from the global one; the
#: imported namespace pools get this priority so that lbctl tries them first too.
KUBEVIP_NAMESPACE_PRIORITY = 1
KUBEVIP_GLOBAL = "global"
#: The sharing-key annotation, as named in messages (the older prefix is read too).
SHARING_ANNOTATION = service.PREFIXES[0] + service.SHARED
#: Cilium's LB IPAM pools (cluster-scoped), as exported; ``v2`` is read too.
CILIUM_API = "cilium.io/v2alpha1"
CILIUM_KIND = "CiliumLoadBalancerIPPool"
#: The hint for a field that must be a list and is not.
_A_LIST = "write it as a YAML list: [a, b], or one '- a' line per item"
#: The label Cilium's serviceSelector matches a Service's namespace with.
CILIUM_NAMESPACE_LABEL = "io.kubernetes.service.namespace"
#: The note on the addresses a Cilium pool keeps out (allowFirstLastIPs other than Yes).
CILIUM_FIRST_LAST = "first or last address of a CIDR (Cilium: allowFirstLastIPs No)"
_CILIUM_FIELDS = {"blocks", "cidrs", "disabled", "serviceSelector", "allowFirstLastIPs"}

_IPADDRESSPOOL_FIELDS = {"addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"}
_ALLOCATION_FIELDS = {"priority", "namespaces", "namespaceSelectors", "serviceSelectors"}
_LEGACY_POOL_FIELDS = {"name", "protocol", "addresses", "auto-assign", "avoid-buggy-ips",
                       "bgp-advertisements"}
_LEGACY_SECTIONS = {"peers", "bgp-communities", "peer-autodiscovery", "bfd-profiles"}
_LEGACY_UNSUPPORTED = {"peer-autodiscovery": "lbctl does not discover peers",
                       "bfd-profiles": "lbctl does not run BFD"}
_NOT_REPRESENTED = {
    "BFDProfile": "lbctl does not run BFD",
}
#: What lbctl reads of a BGPPeer's spec (and of a legacy peer, in its spelling); the rest is
#: named in a warning.
_PEER_FIELDS = {"myASN": "my-asn", "peerASN": "peer-asn", "peerAddress": "peer-address",
                "peerPort": "peer-port", "holdTime": "hold-time",
                "sourceAddress": "source-address", "ebgpMultiHop": "ebgp-multihop",
                "nodeSelectors": "node-selectors", "passwordSecret": "",
                "password": "password"}
_ADVERTISEMENT_FIELDS = {"aggregationLength": "aggregation-length",
                         "aggregationLengthV6": "aggregation-length-v6",
                         "localPref": "localpref", "communities": "communities",
                         "peers": ""}
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}  # what kube-vip's strconv.ParseBool accepts


@dataclass(frozen=True)
class Found:
    """What a MetalLB or kube-vip configuration holds: lbctl pools, the Services that came with
    it (from ``-f`` files), and a warning for everything that could not be represented."""

    pools: tuple[Pool, ...]
    services: tuple[Obj, ...] = ()
    warnings: tuple[str, ...] = ()
    peers: tuple[Peer, ...] = ()


@dataclass(frozen=True)
class NotImported:
    """One item an import could not take: a pool (``namespace`` empty) or a Service, and why."""

    kind: str  # "pool", "peer" or "service"
    namespace: str
    name: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class Imported:
    """The outcome of an import, item by item: the pools added (and those already there, the
    same), the allocations adopted, what could not be imported, and a warning for each Service
    left out on purpose (another controller's class)."""

    pools: tuple[Pool, ...]
    adopted: tuple[Allocation, ...]
    warnings: tuple[str, ...] = ()
    failed: tuple[NotImported, ...] = ()
    unchanged: tuple[Pool, ...] = ()
    peers: tuple[Peer, ...] = ()  # BGP peers added
    unchanged_peers: tuple[Peer, ...] = ()  # already there, the same


@dataclass(frozen=True)
class Exported:
    """Manifests for another tool, and what they cannot express."""

    documents: tuple[Obj, ...]
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- reading input


def parse_manifests(text: str, source: str) -> list[Obj]:
    """Every object in a YAML stream (``---``-separated documents, ``kind: List`` flattened),
    read as every ``-f`` input is (:func:`lbctl.core.manifests.read_objects`); MetalLB's legacy
    configuration document alone (``address-pools``, no ``kind``) is taken as it is."""
    read = read_objects(text, source, also=_is_legacy_config)
    if read.state:
        raise UsageError(f"{source} is lbctl's state document, not manifests",
                         hint="give the other tool's manifests with -f")
    return [placed.obj for placed in read.objects]


def _is_legacy_config(data: Any) -> bool:
    return isinstance(data, dict) and "kind" not in data and "address-pools" in data


def _ref(obj: Obj) -> str:
    """``IPAddressPool metallb-system/default``: how an object is named in messages."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("name", "?"))
    namespace = meta.get("namespace")
    kind = obj.get("kind", "object")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _name(obj: Obj) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping", hint="check the manifest's shape")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a list of strings", hint="check the manifest's shape")
    return value


def _flag(value: Any, default: bool, where: str) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise UsageError(f"{where} must be true or false, not {value!r}",
                         hint="check the manifest's shape")
    return value


def _entry_text(text: str, where: str, warnings: list[str]) -> str:
    """One address entry as lbctl stores it.  A CIDR with host bits set is read the way MetalLB
    and kube-vip read it (the network), with a warning; ``a/32``, ``a/128`` and ``a-a`` become
    the single address ``a``."""
    text = text.strip()
    address, slash, prefix = text.partition("/")
    if slash and prefix.isdigit():
        try:
            addr = parse_ip(address)
        except UsageError:
            return text  # make_pool reports it
        bits = 32 if addr.version == 4 else 128
        length = int(prefix)
        if length <= bits:
            network = addr.value & ~((1 << (bits - length)) - 1)
            if network != addr.value:
                masked = f"{format_ip(addr.version, network)}/{length}"
                warnings.append(f"{where}: {text} has host bits set; imported as {masked}, "
                                "the network the other tool reads it as")
                text = masked
            if length == bits:
                return str(addr)
        return text
    low, dash, high = text.partition("-")
    if dash:
        try:
            if parse_ip(low.strip()) == parse_ip(high.strip()):
                return str(parse_ip(low.strip()))
        except UsageError:
            pass  # make_pool reports it
    return text


def _pool(name: str, addresses: Iterable[str], where: str, **settings: Any) -> Pool:
    """:func:`make_pool`, with the object the pool came from named in any error."""
    try:
        return make_pool(name, addresses, **settings)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from exc


# --------------------------------------------------------------------------- label selectors


def selector_text(selector: Any, where: str) -> str | None:
    """A Kubernetes ``LabelSelector`` as lbctl's selector text; ``None`` for the empty selector,
    which matches every object."""
    selector = _mapping(selector, where)
    unknown = sorted(set(selector) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r} in a label selector",
                         hint="a label selector has matchLabels and matchExpressions")
    parts = [f"{key}={value}" for key, value in
             sorted(_mapping(selector.get("matchLabels"), f"{where}.matchLabels").items())]
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise UsageError(f"{where}.matchExpressions must be a list",
                         hint="write it as one: matchExpressions: [{key: app, operator: In, "
                              "values: [web]}]")
    for expression in expressions:
        expression = _mapping(expression, f"{where}.matchExpressions[]")
        key = str(expression.get("key", ""))
        operator = expression.get("operator")
        values = _strings(expression.get("values"), f"{where}.matchExpressions[].values")
        if operator == "In" and values:
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn" and len(values) == 1:
            parts.append(f"{key}!={values[0]}")
        elif operator == "NotIn" and values:
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists" and not values:
            parts.append(key)
        elif operator == "DoesNotExist" and not values:
            parts.append(f"!{key}")
        else:
            raise UsageError(
                f"{where}: invalid match expression {key} {operator} {values}",
                hint="operators: In and NotIn (with values), Exists and DoesNotExist (without)",
            )
    if not parts:
        return None
    try:
        return str(parse_selector(",".join(parts)))
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from exc


def label_selector(text: str) -> Obj:
    """lbctl's selector text as a Kubernetes ``LabelSelector`` (the inverse of
    :func:`selector_text`)."""
    labels: dict[str, str] = {}
    expressions: list[Obj] = []
    for requirement in parse_selector(text).requirements:
        key, op, values = requirement.key, requirement.op, list(requirement.values)
        if op == "=" and key not in labels:
            labels[key] = values[0]
        elif op in ("=", "in"):
            expressions.append({"key": key, "operator": "In", "values": values})
        elif op in ("!=", "notin"):
            expressions.append({"key": key, "operator": "NotIn", "values": values})
        else:
            operator = "Exists" if op == "exists" else "DoesNotExist"
            expressions.append({"key": key, "operator": operator})
    selector: Obj = {}
    if labels:
        selector["matchLabels"] = labels
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


# --------------------------------------------------------------------------- MetalLB import


def from_metallb(objects: Iterable[Obj]) -> Found:
    """Pools and BGP peers from MetalLB objects: IPAddressPools, deprecated AddressPools,
    BGPPeers, BGPAdvertisements (and Community aliases), the legacy ConfigMap (or its bare
    ``config`` document); Services are kept for adopting; the rest is warned about."""
    objects = list(objects)
    pools: list[Pool] = []
    peers: list[Peer] = []
    services: list[Obj] = []
    warnings: list[str] = []
    advertised: dict[str, Obj] = {}  # IPAddressPool name -> its object (advertisements apply)
    advertisements: list[_L2Advertisement] = []
    aliases = _community_aliases(objects)
    for obj in objects:
        kind = obj.get("kind")
        if kind is None and "address-pools" in obj:
            pools.extend(_legacy_config(obj, "the MetalLB configuration", warnings, peers))
        elif kind == "Service":
            services.append(obj)
        elif kind == "ConfigMap":
            text = _mapping(obj.get("data"), f"{_ref(obj)} data").get("config")
            if text is None:
                warnings.append(f"{_ref(obj)} ignored: it has no key 'config' (MetalLB's "
                                "configuration)")
                continue
            where = _ref(obj)
            config = yamlkit.load(str(text), f"{where} key config",
                                  hint="kubectl -n metallb-system get cm config -o yaml shows it")
            pools.extend(_legacy_config(_mapping(config, f"{where} config"), where, warnings,
                                        peers))
        elif kind in ("IPAddressPool", "AddressPool") and str(obj.get("apiVersion", "")
                                                               ).startswith("metallb.io/"):
            pools.append(_ipaddresspool(obj, warnings, aliases))
            if kind == "IPAddressPool":
                advertised[pools[-1].name] = obj
        elif kind == "L2Advertisement":
            advertisements.append(_l2advertisement(obj, warnings))
        elif kind == "BGPPeer" and str(obj.get("apiVersion", "")).startswith("metallb.io/"):
            peers.append(_peer(_name(obj), _mapping(obj.get("spec"), f"{_ref(obj)} spec"),
                               _ref(obj), warnings, legacy=False))
        elif kind in ("BGPAdvertisement", "Community"):
            continue  # read with the pools they select, below
        elif kind in _NOT_REPRESENTED:
            warnings.append(f"{_ref(obj)} not imported: {_NOT_REPRESENTED[kind]}")
        else:
            warnings.append(f"{_ref(obj)} ignored: not a MetalLB object")
    pools = _bgp_advertised(pools, advertised, objects, advertisements, aliases, warnings)
    if advertisements:
        pools = _advertise(pools, advertised, advertisements, warnings)
    return Found(tuple(pools), tuple(services), tuple(warnings), tuple(peers))


# --------------------------------------------------------------------------- MetalLB BGP


def _duration(value: Any, where: str) -> int:
    """A Go duration (``90s``, ``1m30s``, ``2m``) as whole seconds."""
    text = str(value).strip()
    units = {"h": 3600, "m": 60, "s": 1}
    total, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        elif char in units and number:
            total += int(number) * units[char]
            number = ""
        else:
            number = "bad"
            break
    if number or not text:
        raise UsageError(f"{where}: {text!r} is not a whole number of seconds like 90s or 1m30s",
                         hint="write it in hours, minutes and seconds: 90s, 1m30s or 2h")
    return total


def _number(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"{where} must be a number, not {value!r}",
                         hint="check the manifest's shape")
    return value


def _peer_name(address: str, taken: Iterable[Peer]) -> str:
    """A name for a legacy peer (which has none): its address, ``:`` spelled ``-``."""
    base = address.strip().lower().replace(":", "-").strip("-") or "peer"
    names = {p.name for p in taken}
    name, count = base, 1
    while name in names:
        count += 1
        name = f"{base}-{count}"
    return name


def _legacy_selector(raw: Any, where: str) -> dict[str, Any]:
    """A legacy node selector (``match-labels``, ``match-expressions``) in the CRD spelling."""
    raw = _mapping(raw, where)
    return {"matchLabels": raw.get("match-labels") or {},
            "matchExpressions": raw.get("match-expressions") or []}


def _peer(name: str, spec: dict[str, Any], where: str, warnings: list[str], *,
          legacy: bool) -> Peer:
    """A BGPPeer's spec (or a legacy ``peers`` entry, ``legacy``) as an lbctl peer."""
    keys = {crd: (legacy_key if legacy else crd) for crd, legacy_key in _PEER_FIELDS.items()
            if legacy_key or not legacy}
    for key in sorted(set(spec) - set(keys.values())):
        warnings.append(f"{where}: {key} not imported: lbctl's peers have no such setting")
    if spec.get(keys["password"]):
        warnings.append(f"{where}: the password is not imported: lbctl keeps passwords in "
                        "Secrets only; store it with lbctl bgp peer add --password-file, or in "
                        "a Secret of kube-system named with --password-secret")
    secret = None
    if not legacy and spec.get("passwordSecret"):
        reference = _mapping(spec["passwordSecret"], f"{where}: passwordSecret")
        secret = str(reference.get("name") or "") or None
        if secret and reference.get("namespace") not in (None, "kube-system"):
            warnings.append(f"{where}: passwordSecret {reference.get('namespace')}/{secret}: "
                            f"lbctl's speakers read kube-system/{secret} (key password): copy "
                            "the Secret there")
    selectors: list[str] = []
    for raw in spec.get(keys["nodeSelectors"]) or []:
        raw = _legacy_selector(raw, where) if legacy else raw
        text = selector_text(raw, f"{where}: {keys['nodeSelectors']}")
        if text is None:  # an empty selector: every node
            selectors = []
            break
        selectors.append(text)
    hold = spec.get(keys["holdTime"])
    asn = _number(spec.get(keys["peerASN"]), f"{where}: {keys['peerASN']}")
    my_asn = _number(spec.get(keys["myASN"]), f"{where}: {keys['myASN']}")
    port = _number(spec.get(keys["peerPort"]) or 179, f"{where}: {keys['peerPort']}")
    hold_time = 90 if hold is None else _duration(hold, f"{where}: {keys['holdTime']}")
    multihop = _flag(spec.get(keys["ebgpMultiHop"]), False, f"{where}: {keys['ebgpMultiHop']}")
    source = spec.get(keys["sourceAddress"])
    try:
        return make_peer(name, str(spec.get(keys["peerAddress"]) or ""), asn, my_asn,
                         port=port, hold_time=hold_time, password_secret=secret,
                         source_address=str(source) if source else None,
                         ebgp_multihop=multihop, node_selectors=selectors)
    except UsageError as exc:
        message = exc.message.removeprefix(f"peer {name}: ")
        raise UsageError(f"{where}: {message}", hint=exc.hint) from exc


def _community_aliases(objects: Iterable[Obj]) -> dict[str, str]:
    """MetalLB's Community objects: alias name -> community value."""
    aliases: dict[str, str] = {}
    for obj in objects:
        if obj.get("kind") != "Community":
            continue
        spec = _mapping(obj.get("spec"), f"{_ref(obj)} spec")
        for item in spec.get("communities") or []:
            item = _mapping(item, f"{_ref(obj)}: communities[]")
            aliases[str(item.get("name"))] = str(item.get("value"))
    return aliases


def _advertisement(spec: dict[str, Any], where: str, aliases: dict[str, str],
                   warnings: list[str], *, legacy: bool = False) -> Advertisement:
    """A BGP advertisement (a BGPAdvertisement's spec, a legacy ``bgp-advertisements`` entry,
    or an AddressPool's ``bgpAdvertisements`` entry) as lbctl's."""
    keys = {crd: (legacy_key if legacy else crd) for crd, legacy_key in
            _ADVERTISEMENT_FIELDS.items() if legacy_key or not legacy}
    communities = [aliases.get(str(c), str(c)) for c in spec.get(keys["communities"]) or []]
    local_pref = spec.get(keys["localPref"])
    try:
        return make_advertisement(
            aggregation_length=_number(spec.get(keys["aggregationLength"], 32),
                                       f"{where}: {keys['aggregationLength']}"),
            aggregation_length_v6=_number(spec.get(keys["aggregationLengthV6"], 128),
                                          f"{where}: {keys['aggregationLengthV6']}"),
            local_pref=None if local_pref in (None, 0) else _number(
                local_pref, f"{where}: {keys['localPref']}"),
            communities=communities,
            peers=[] if legacy else _strings(spec.get("peers"), f"{where}: peers"),
        )
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from exc


def _with_advertisement(pool: Pool, announce: str, advertisement: Advertisement,
                        where: str) -> Pool:
    """``pool`` announced as ``announce`` with ``advertisement``, checked against its
    addresses as ``pool add`` checks it."""
    return _pool(pool.name, pool.addresses, where, auto_assign=pool.auto_assign,
                 avoid_buggy_ips=pool.avoid_buggy_ips, namespaces=pool.namespaces,
                 selectors=pool.service_selectors, priority=pool.priority,
                 node_selectors=pool.node_selectors, announce=announce, bgp=advertisement)


def _selects(obj: Obj, pool: Obj) -> bool:
    """Does an L2Advertisement or BGPAdvertisement select the IPAddressPool ``pool``?  By name,
    by label selector, or (neither given) every pool."""
    spec = _mapping(obj.get("spec"), f"{_ref(obj)} spec")
    names = _strings(spec.get("ipAddressPools"), f"{_ref(obj)}: spec.ipAddressPools")
    raw_selectors = spec.get("ipAddressPoolSelectors") or []
    if not names and not raw_selectors:
        return True
    if _name(pool) in names:
        return True
    labels = _labels(pool)
    for raw in raw_selectors:
        text = selector_text(raw, f"{_ref(obj)}: spec.ipAddressPoolSelectors")
        selector = parse_selector(text) if text else Selector(())
        if selector.matches(labels):
            return True
    return False


def _bgp_advertised(pools: list[Pool], advertised: dict[str, Obj], objects: list[Obj],
                    l2: list[_L2Advertisement], aliases: dict[str, str],
                    warnings: list[str]) -> list[Pool]:
    """The IPAddressPools with their BGP announcement: a pool a BGPAdvertisement selects is
    announced over BGP with its options (``both`` when an L2Advertisement covers it too).
    lbctl keeps one advertisement per pool: the first by name; others that differ are named."""
    ads = []
    for ad in sorted((o for o in objects if o.get("kind") == "BGPAdvertisement"), key=_name):
        spec = _mapping(ad.get("spec"), f"{_ref(ad)} spec")
        for key in sorted(set(spec) - set(_ADVERTISEMENT_FIELDS) - {
                "ipAddressPools", "ipAddressPoolSelectors"}):
            warnings.append(f"{_ref(ad)}: spec.{key} not imported: lbctl announces from every "
                            "node that peers (give the peers node selectors)")
        ads.append((ad, _advertisement(spec, _ref(ad), aliases, warnings)))
    out = []
    for pool in pools:
        obj = advertised.get(pool.name)
        if obj is None:  # the legacy ConfigMap's and AddressPool's pools have a protocol
            out.append(pool)
            continue
        chosen: tuple[Obj, Advertisement] | None = None
        for ad, advertisement in ads:
            if not _selects(ad, obj):
                continue
            if chosen is None:
                chosen = (ad, advertisement)
            elif advertisement != chosen[1]:
                warnings.append(f"{_ref(ad)} not imported for pool {pool.name}: lbctl keeps one "
                                f"BGP advertisement per pool ({_ref(chosen[0])})")
        if chosen is not None:
            labels = _labels(obj)
            both = any(ad.applies_to(pool.name, labels) for ad in l2)
            pool = _with_advertisement(pool, BOTH if both else BGP, chosen[1], _ref(obj))
        out.append(pool)
    return out


def _labels(obj: Obj) -> dict[str, str]:
    meta = obj.get("metadata")
    return {str(k): str(v) for k, v in
            ((meta.get("labels") if isinstance(meta, dict) else None) or {}).items()}


def _legacy_config(config: dict[str, Any], where: str, warnings: list[str],
                   peers: list[Peer]) -> list[Pool]:
    for section in sorted(set(_LEGACY_UNSUPPORTED) & set(config)):
        if config[section]:
            warnings.append(f"{where}: {section} not imported: {_LEGACY_UNSUPPORTED[section]}")
    aliases = {str(k): str(v) for k, v in
               _mapping(config.get("bgp-communities"), f"{where}: bgp-communities").items()}
    raw_peers = config.get("peers") or []
    if not isinstance(raw_peers, list):
        raise UsageError(f"{where}: peers must be a list", hint=_A_LIST)
    for raw in raw_peers:
        raw = _mapping(raw, f"{where}: peers[]")
        name = _peer_name(str(raw.get("peer-address") or ""), peers)
        peers.append(_peer(name, raw, f"{where}: peer {raw.get('peer-address')}", warnings,
                           legacy=True))
    for key in sorted(set(config) - _LEGACY_SECTIONS - {"address-pools"}):
        warnings.append(f"{where}: unknown setting {key!r} not imported")
    raw_pools = config.get("address-pools") or []
    if not isinstance(raw_pools, list):
        raise UsageError(f"{where}: address-pools must be a list", hint=_A_LIST)
    pools = []
    for raw in raw_pools:
        raw = _mapping(raw, f"{where}: address-pools[]")
        name = str(raw.get("name", ""))
        here = f"{where}: pool {name}"
        for key in sorted(set(raw) - _LEGACY_POOL_FIELDS):
            warnings.append(f"{here}: unknown field {key!r} not imported")
        announce, advertisement = _protocol(
            raw.get("protocol"), raw.get("bgp-advertisements"), here, aliases, warnings,
            legacy=True)
        addresses = [_entry_text(a, here, warnings)
                     for a in _strings(raw.get("addresses"), f"{here}: addresses")]
        pools.append(_pool(
            name, addresses, here,
            auto_assign=_flag(raw.get("auto-assign"), True, f"{here}: auto-assign"),
            avoid_buggy_ips=_flag(raw.get("avoid-buggy-ips"), False, f"{here}: avoid-buggy-ips"),
            announce=announce, bgp=advertisement,
        ))
    return pools


def _protocol(protocol: Any, raw_ads: Any, where: str, aliases: dict[str, str],
              warnings: list[str], *, legacy: bool) -> tuple[str, Advertisement]:
    """A legacy pool's (or a deprecated AddressPool's) ``protocol`` and BGP advertisements as
    lbctl's announcement: ``bgp`` with the first advertisement (lbctl keeps one per pool)."""
    key = "bgp-advertisements" if legacy else "bgpAdvertisements"
    if protocol not in (None, LAYER2, BGP):
        raise UsageError(f"{where}: unknown protocol {protocol!r}",
                         hint="MetalLB's protocols are layer2 and bgp")
    ads = raw_ads or []
    if not isinstance(ads, list):
        raise UsageError(f"{where}: {key} must be a list", hint=_A_LIST)
    if protocol != BGP:
        if ads:
            warnings.append(f"{where}: {key} not imported: the pool's protocol is layer2")
        return LAYER2, Advertisement()
    if len(ads) > 1:
        warnings.append(f"{where}: {key} after the first not imported: lbctl keeps one BGP "
                        "advertisement per pool")
    if not ads:
        return BGP, Advertisement()
    first = _mapping(ads[0], f"{where}: {key}[]")
    known = {k for crd, k in _ADVERTISEMENT_FIELDS.items() if k} if legacy else \
        set(_ADVERTISEMENT_FIELDS) - {"peers"}
    for field in sorted(set(first) - known):
        warnings.append(f"{where}: {key}[].{field} not imported")
    return BGP, _advertisement(first, f"{where}: {key}", aliases, warnings, legacy=legacy)


def _ipaddresspool(obj: Obj, warnings: list[str], aliases: dict[str, str]) -> Pool:
    where = _ref(obj)
    spec = _mapping(obj.get("spec"), f"{where} spec")
    known = set(_IPADDRESSPOOL_FIELDS)
    announce, advertisement = LAYER2, Advertisement()
    if obj.get("kind") == "AddressPool":  # the deprecated kind: pools with a protocol
        known |= {"protocol", "bgpAdvertisements"}
        announce, advertisement = _protocol(spec.get("protocol"), spec.get("bgpAdvertisements"),
                                            where, aliases, warnings, legacy=False)
    for key in sorted(set(spec) - known):
        warnings.append(f"{where}: unknown field spec.{key} not imported")
    allocation = _mapping(spec.get("serviceAllocation"), f"{where} spec.serviceAllocation")
    for key in sorted(set(allocation) - _ALLOCATION_FIELDS):
        warnings.append(f"{where}: unknown field spec.serviceAllocation.{key} not imported")
    namespaces = _strings(allocation.get("namespaces"),
                          f"{where}: spec.serviceAllocation.namespaces")
    namespace_selectors = allocation.get("namespaceSelectors") or []
    if namespace_selectors:
        shown = "; ".join(
            selector_text(s, f"{where}: spec.serviceAllocation.namespaceSelectors") or "{}"
            for s in namespace_selectors
        )
        serves = ("only namespaces " + ", ".join(sorted(namespaces)) if namespaces
                  else "every namespace")
        warnings.append(f"{where}: spec.serviceAllocation.namespaceSelectors ({shown}) not "
                        "imported: lbctl pools name namespaces, not namespace labels; the pool "
                        f"serves {serves}")
    selectors: list[str] = []
    for raw in allocation.get("serviceSelectors") or []:
        text = selector_text(raw, f"{where}: spec.serviceAllocation.serviceSelectors")
        if text is None:  # an empty selector matches every Service: no restriction at all
            selectors = []
            break
        selectors.append(text)
    priority = allocation.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise UsageError(f"{where}: spec.serviceAllocation.priority must be an integer",
                         hint="check the manifest's shape")
    addresses = [_entry_text(a, where, warnings)
                 for a in _strings(spec.get("addresses"), f"{where}: spec.addresses")]
    return _pool(
        _name(obj), addresses, where,
        auto_assign=_flag(spec.get("autoAssign"), True, f"{where}: spec.autoAssign"),
        avoid_buggy_ips=_flag(spec.get("avoidBuggyIPs"), False, f"{where}: spec.avoidBuggyIPs"),
        namespaces=namespaces,
        selectors=selectors,
        priority=priority or None,  # MetalLB reads 0 as "no priority"
        announce=announce, bgp=advertisement,
    )


@dataclass(frozen=True)
class _L2Advertisement:
    """What lbctl takes from an L2Advertisement: which pools, from which nodes, on which
    interfaces."""

    ref: str
    pool_names: tuple[str, ...]
    pool_selectors: tuple[str | None, ...]  # None: the empty selector, every pool
    node_selectors: tuple[str | None, ...]  # None: the empty selector, every node
    interfaces: tuple[str, ...] = ()  # (): every interface

    def applies_to(self, name: str, labels: dict[str, str]) -> bool:
        """MetalLB's rule: an advertisement naming no pool and selecting none covers them all."""
        if not self.pool_names and not self.pool_selectors:
            return True
        return name in self.pool_names or any(
            text is None or parse_selector(text).matches(labels) for text in self.pool_selectors)

    @property
    def every_node(self) -> bool:
        return not self.node_selectors or None in self.node_selectors


def _l2advertisement(obj: Obj, warnings: list[str]) -> _L2Advertisement:
    where = _ref(obj)
    spec = _mapping(obj.get("spec"), f"{where} spec")
    for key in sorted(set(spec) - {"ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors",
                                   "interfaces"}):
        warnings.append(f"{where}: unknown field spec.{key} not imported")
    interfaces = _strings(spec.get("interfaces"), f"{where}: spec.interfaces")
    bad = interface_problems(interfaces, f"{where}: spec.interfaces")
    if bad:
        raise UsageError(bad[0], hint="fix the L2Advertisement; a Linux interface name has at "
                                      "most 15 characters, no '/', ':' or whitespace")

    def selectors(key: str) -> tuple[str | None, ...]:
        raw = spec.get(key) or []
        if not isinstance(raw, list):
            raise UsageError(f"{where}: spec.{key} must be a list", hint=_A_LIST)
        return tuple(selector_text(item, f"{where}: spec.{key}") for item in raw)

    return _L2Advertisement(
        ref=where,
        pool_names=tuple(_strings(spec.get("ipAddressPools"), f"{where}: spec.ipAddressPools")),
        pool_selectors=selectors("ipAddressPoolSelectors"),
        node_selectors=selectors("nodeSelectors"),
        interfaces=tuple(dict.fromkeys(interfaces)),
    )


def _advertise(pools: list[Pool], advertised: dict[str, Obj],
               advertisements: list[_L2Advertisement], warnings: list[str]) -> list[Pool]:
    """Each IPAddressPool's node selectors and interfaces from the L2Advertisements that cover
    it, by MetalLB's rule (a pool is announced through the union of every advertisement that
    covers it): every node when one of them selects every node, else the union of their
    selectors; every interface (lbctl: the speakers' own choice) when one of them names none,
    else the union of their interfaces.  MetalLB pairs each advertisement's interfaces with its
    own nodes; a pool has one list for all its nodes, so advertisements that give different
    nodes different interfaces are warned about."""
    known = {pool.name for pool in pools}
    for ad in advertisements:
        for name in ad.pool_names:
            if name not in advertised:
                warnings.append(f"{ad.ref}: spec.ipAddressPools names {name}, which is "
                                + ("not an IPAddressPool" if name in known
                                   else "not among the imported pools"))
    result = []
    for pool in pools:
        obj = advertised.get(pool.name)
        if obj is None:  # the legacy ConfigMap's and AddressPool's pools: every node
            result.append(pool)
            continue
        covering = [ad for ad in advertisements if ad.applies_to(pool.name, _labels(obj))]
        if not covering and pool.announce == BGP:  # a BGPAdvertisement's only
            result.append(pool)
        elif not covering:
            warnings.append(f"{_ref(obj)}: no L2Advertisement covers it, so MetalLB does not "
                            "announce it in layer 2; lbctl speaker announces it from every "
                            "eligible node")
            result.append(pool)
        else:
            chosen = () if any(ad.every_node for ad in covering) else tuple(dict.fromkeys(
                text for ad in covering for text in ad.node_selectors if text is not None))
            interfaces = () if any(not ad.interfaces for ad in covering) else tuple(sorted(
                {name for ad in covering for name in ad.interfaces}))
            warnings.extend(_interfaces_by_node(_ref(obj), covering, interfaces))
            result.append(replace(pool, node_selectors=chosen, interfaces=interfaces))
    return result


def _interfaces_by_node(ref: str, covering: list[_L2Advertisement],
                        interfaces: tuple[str, ...]) -> list[str]:
    """A warning when the advertisements covering a pool pair different interfaces with
    different nodes (exact when they all name the same interfaces, or all the same nodes)."""
    if (len({frozenset(ad.interfaces) for ad in covering}) < 2
            or len({frozenset(ad.node_selectors) if not ad.every_node else None
                    for ad in covering}) < 2):
        return []
    pairs = "; ".join(
        f"{ad.ref}: {', '.join(ad.interfaces) or 'every interface'} on "
        + ("every node" if ad.every_node else
           "nodes " + " | ".join(t for t in ad.node_selectors if t is not None))
        for ad in covering)
    answered = ", ".join(interfaces) or "each speaker's own choice of interface"
    return [f"{ref}: its L2Advertisements give different nodes different interfaces ({pairs}); "
            f"lbctl answers on {answered} on every node that announces it"]


# --------------------------------------------------------------------------- kube-vip import


def from_kubevip(objects: Iterable[Obj]) -> Found:
    """Pools from kube-vip's ConfigMap(s): one pool per scope, named after it (``global`` or the
    namespace); Services are kept for adopting; the rest is warned about."""
    pools: list[Pool] = []
    services: list[Obj] = []
    warnings: list[str] = []
    for obj in objects:
        if obj.get("kind") == "Service":
            services.append(obj)
        elif obj.get("kind") == "ConfigMap":
            pools.extend(_kubevip_configmap(obj, warnings))
        else:
            warnings.append(f"{_ref(obj)} ignored: kube-vip's cloud provider reads only its "
                            "ConfigMap")
    return Found(tuple(pools), tuple(services), tuple(warnings))


def _kubevip_configmap(obj: Obj, warnings: list[str]) -> list[Pool]:
    where = _ref(obj)
    data = {str(k): str(v) for k, v in _mapping(obj.get("data"), f"{where} data").items()}
    skip_ends = data.get("skip-end-ips-in-cidr") == "true"
    scopes: dict[str, tuple[str, str]] = {}  # scope -> (key, value) kube-vip uses
    for key in sorted(data):
        value = data[key]
        kind, _, scope = key.partition("-")
        if kind in ("cidr", "range") and scope:
            if kind == "range" and f"cidr-{scope}" in data:
                warnings.append(f"{where}: {key} not imported: kube-vip ignores it because "
                                f"cidr-{scope} is set")
                continue
            scopes[scope] = (key, value)
        elif key.startswith("allow-share-"):
            if value in _TRUE:
                scope = key.removeprefix("allow-share-")
                who = "any Services" if scope == KUBEVIP_GLOBAL else \
                    f"any Services of namespace {scope}"
                warnings.append(
                    f"{where}: {key} not imported: kube-vip lets {who} share an IPv4 address "
                    "when their ports differ; lbctl shares only between Services with the "
                    f"same {SHARING_ANNOTATION} annotation: add it to those that share"
                )
        elif key.startswith("interface-"):
            warnings.append(f"{where}: {key} ({value}) not imported: lbctl arp announce chooses "
                            "the interface by subnet, or --interface")
        elif key == "search-order":
            if value != "asc":
                warnings.append(f"{where}: search-order {value} not imported: lbctl always "
                                "hands out the lowest free address")
        elif key != "skip-end-ips-in-cidr":
            warnings.append(f"{where}: unknown key {key!r} not imported")
    pools = []
    for scope, (key, value) in sorted(scopes.items()):
        here = f"{where}: {key}"
        texts = [t.strip() for t in value.split(",") if t.strip()]
        if key.startswith("cidr-"):
            if "0.0.0.0/32" in texts:
                warnings.append(f"{here}: 0.0.0.0/32 (kube-vip's DHCP mode) not imported")
                texts = [t for t in texts if t != "0.0.0.0/32"]
            texts = [_entry_text(t, here, warnings) for t in texts]
            if skip_ends:
                texts = [_without_ends(t) for t in texts]
        else:
            texts = [_entry_text(t, here, warnings) for t in texts]
        if not texts:
            continue
        addresses = _merged(texts, here, warnings)
        in_namespace = scope != KUBEVIP_GLOBAL
        pools.append(_pool(
            scope, addresses, here,
            namespaces=[scope] if in_namespace else [],
            priority=KUBEVIP_NAMESPACE_PRIORITY if in_namespace else None,
        ))
    return pools


def _without_ends(text: str) -> str:
    """``skip-end-ips-in-cidr: "true"``: kube-vip leaves out the first and last address of IPv4
    CIDRs other than /31 and /32."""
    if "/" not in text:
        return text
    entry = parse_entry(text)
    if entry.version != 4 or entry.size <= 2:
        return text
    return describe(4, entry.first + 1, entry.last - 1)


def _merged(texts: list[str], where: str, warnings: list[str]) -> list[str]:
    """kube-vip accepts overlapping entries in one scope; lbctl keeps their union."""
    try:
        entries = sorted((parse_entry(t) for t in texts), key=lambda e: (e.version, e.first))
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from exc
    union: list[AddrRange] = []
    for entry in entries:
        last = union[-1] if union else None
        if last is None or last.version != entry.version or entry.first > last.last:
            union.append(entry)
        elif entry.last > last.last:
            union[-1] = AddrRange(entry.version, last.first, entry.last,
                                  describe(entry.version, last.first, entry.last))
    if len(union) == len(texts):
        return texts
    merged = ", ".join(e.text for e in union)
    warnings.append(f"{where}: overlapping entries merged into {merged}")
    return [e.text for e in union]


# --------------------------------------------------------------------------- adopting


def _in_pools(state: State, ip: str, names: set[str]) -> bool:
    try:
        return state.pool_of(ip) in names
    except UsageError:  # a malformed ingress entry: not an address of ours
        return False


def adopt(state: State, pools: Iterable[str], services: Iterable[Obj]
          ) -> tuple[State, list[Allocation], list[str], list[NotImported]]:
    """Record every LoadBalancer Service whose ingress IPs lie in ``pools`` as an allocation of
    those IPs, each on its own: a Service the allocator would not give them (a rule of the pool,
    a sharing conflict, requests that disagree) is left out and reported, the others adopted.
    A Service of ours showing addresses in none of ``pools`` (and not already recorded) is
    reported too.  Returns the new state, the allocations, a warning per Service left out on
    purpose (another controller's ``loadBalancerClass``), and the reports."""
    names = set(pools)
    allocator = Allocator(state)
    adopted: list[Allocation] = []
    warnings: list[str] = []
    failed: list[NotImported] = []
    for obj in sorted(services, key=service.key_of):
        if not service.is_load_balancer(obj):
            continue
        shown = service.ingress_ips(obj)
        ips = tuple(dict.fromkeys(ip for ip in shown if _in_pools(state, ip, names)))
        namespace, name = service.key_of(obj)
        if not ips:
            recorded = state.allocations.get((namespace, name))
            if shown and not service.is_foreign(obj) and (
                    recorded is None or not set(shown) <= set(recorded.ips)):
                ours = [ip for ip in shown if _in_pools(state, ip, set(state.pools))]
                failed.append(NotImported(
                    "service", namespace, name,
                    f"service {service.ref(obj)} holds {', '.join(shown)}, which is in no "
                    "imported pool",
                    f"it is in pool {state.pool_of(ours[0])}: lbctl adopt svc {name} -n "
                    f"{namespace} records it" if ours else
                    "import (or lbctl pool add) the pool that holds it, then import again"))
            continue
        if service.is_foreign(obj):
            warnings.append(f"service {service.ref(obj)} not adopted: its loadBalancerClass "
                            f"{service.lb_class(obj)} belongs to another controller; it holds "
                            f"{', '.join(ips)} (keep it from others with lbctl pool reserve)")
            continue
        recorded = allocator.state().allocations.get((namespace, name))
        if recorded is not None and set(recorded.ips) == set(ips):
            continue  # adopted before: importing again changes nothing
        try:
            request = adoption.request_for(obj, ips)
            record, _ = allocator.allocate(request)
        except (AllocationError, UsageError) as exc:
            hint = exc.hint
            if getattr(exc, "reason", "") == SHARING:
                hint = (f"give the Services that share an address the same {SHARING_ANNOTATION} "
                        "annotation and distinct ports, then import again")
            failed.append(NotImported(
                "service", namespace, name,
                f"cannot adopt {service.ref(obj)}, which holds {', '.join(ips)}: {exc.message}",
                hint))
            continue
        adopted.append(record)
    return allocator.state(), adopted, warnings, failed


def prefixed(pool: Pool, prefix: str) -> Pool:
    """``pool`` under the name ``prefix + name`` (checked like any pool name)."""
    if not prefix:
        return pool
    make_pool(prefix + pool.name, pool.addresses)  # the name rule, with its error
    return replace(pool, name=prefix + pool.name)


def import_pools(state: State, found: Found, services: Iterable[Obj], *, prefix: str = ""
                 ) -> tuple[State, Imported]:
    """Add each found pool (named ``prefix + name``) and adopt the Services that hold
    addresses in them, item by item: the pure change ``pool import`` runs in one state
    transaction.  A pool whose name or addresses are taken is reported and left out (a pool
    already there with the same definition is unchanged), and so are the Services that cannot
    be adopted; the rest is imported.  A ``prefix`` that makes an invalid name raises
    :class:`~lbctl.errors.UsageError`."""
    added: list[Pool] = []
    unchanged: list[Pool] = []
    failed: list[NotImported] = []
    peers_added: list[Peer] = []
    peers_unchanged: list[Peer] = []
    for peer in found.peers:  # first: the pools' advertisements name them
        if state.peers.get(peer.name) == peer:
            peers_unchanged.append(peer)
            continue
        try:
            state = add_peer(state, peer)
        except RefusedError as exc:
            failed.append(NotImported("peer", "", peer.name, exc.message, exc.hint))
            continue
        peers_added.append(peer)
    for original in found.pools:
        pool = prefixed(original, prefix)  # a prefix that makes no valid name is a usage error
        try:
            if state.pools.get(pool.name) == pool:
                unchanged.append(pool)
                continue
            state = add_pool(state, pool)
        except (RefusedError, UsageError, NotFoundError) as exc:
            hint = exc.hint
            if pool.name in state.pools:
                hint = "import under other names with --prefix (for example --prefix metallb-)"
            failed.append(NotImported("pool", "", prefix + original.name, exc.message, hint))
            continue
        added.append(pool)
    names = [p.name for p in (*added, *unchanged)]
    state, adopted, warnings, not_adopted = adopt(state, names, services)
    return state, Imported(tuple(added), tuple(adopted), tuple(warnings),
                           tuple(failed + not_adopted), tuple(unchanged), tuple(peers_added),
                           tuple(peers_unchanged))


# --------------------------------------------------------------------------- Cilium


def from_cilium(objects: Iterable[Obj]) -> Found:
    """Pools from Cilium's ``CiliumLoadBalancerIPPool`` objects (``cilium.io/v2`` or
    ``v2alpha1``); Services are kept for adopting; the rest is warned about."""
    pools: list[Pool] = []
    services: list[Obj] = []
    warnings: list[str] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind == "Service":
            services.append(obj)
        elif kind == CILIUM_KIND and str(obj.get("apiVersion", "")).startswith("cilium.io/"):
            pools.append(_cilium_pool(obj, warnings))
        elif kind == "CiliumL2AnnouncementPolicy":
            warnings.append(f"{_ref(obj)} not imported: lbctl arp announce chooses the interface "
                            "by subnet (or --interface) on the node it runs on")
        elif str(kind or "").startswith("CiliumBGP"):
            warnings.append(f"{_ref(obj)} not imported: lbctl's BGP peers are added with "
                            "lbctl bgp peer add")
        else:
            warnings.append(f"{_ref(obj)} ignored: not a CiliumLoadBalancerIPPool")
    return Found(tuple(pools), tuple(services), tuple(warnings))


def _cilium_pool(obj: Obj, warnings: list[str]) -> Pool:
    where = _ref(obj)
    spec = _mapping(obj.get("spec"), f"{where} spec")
    for key in sorted(set(spec) - _CILIUM_FIELDS):
        warnings.append(f"{where}: unknown field spec.{key} not imported")
    blocks = spec.get("blocks") or spec.get("cidrs") or []  # cidrs: the older name
    if not isinstance(blocks, list):
        raise UsageError(f"{where}: spec.blocks must be a list", hint=_A_LIST)
    addresses: list[str] = []
    cidrs: list[AddrRange] = []
    for block in blocks:
        block = _mapping(block, f"{where}: spec.blocks[]")
        if block.get("cidr"):
            text = _entry_text(str(block["cidr"]), where, warnings)
            cidrs.append(parse_entry(text))
        elif block.get("start"):
            start, stop = str(block["start"]), str(block.get("stop") or block["start"])
            text = _entry_text(start if start == stop else f"{start}-{stop}", where, warnings)
        else:
            raise UsageError(f"{where}: a block without cidr or start",
                             hint="each block is {cidr: ...} or {start: ..., stop: ...}")
        addresses.append(text)
    selector = _mapping(spec.get("serviceSelector"), f"{where}: spec.serviceSelector")
    labels = dict(_mapping(selector.get("matchLabels"), f"{where}: matchLabels"))
    namespaces: list[str] = []
    if CILIUM_NAMESPACE_LABEL in labels:  # Cilium's label for a Service's namespace
        namespaces.append(str(labels.pop(CILIUM_NAMESPACE_LABEL)))
    expressions = []
    for expression in selector.get("matchExpressions") or []:
        if isinstance(expression, dict) and expression.get("key") == CILIUM_NAMESPACE_LABEL:
            if expression.get("operator") == "In":
                namespaces.extend(_strings(expression.get("values"), f"{where}: values"))
            else:
                warnings.append(f"{where}: {CILIUM_NAMESPACE_LABEL} "
                                f"{expression.get('operator')} not imported: lbctl pools name "
                                "the namespaces they serve")
            continue
        expressions.append(expression)
    chosen = selector_text({**selector, "matchLabels": labels, "matchExpressions": expressions},
                           f"{where}: spec.serviceSelector")
    disabled = _flag(spec.get("disabled"), False, f"{where}: spec.disabled")
    if disabled:
        warnings.append(f"{where}: disabled: imported with autoAssign false (it serves only "
                        "Services that ask for its addresses)")
    pool = _pool(_name(obj), addresses, where, auto_assign=not disabled, namespaces=namespaces,
                 selectors=[chosen] if chosen else [])
    if str(spec.get("allowFirstLastIPs") or "No") != "Yes":
        reservations = {format_ip(c.version, ip): CILIUM_FIRST_LAST for c in cidrs
                        if c.last - c.first >= 3 for ip in (c.first, c.last)
                        if not (c.version == 6 and ip == c.first)}
        pool = replace(pool, reservations=reservations)
    return pool


def to_cilium(state: State, names: Sequence[str] = ()) -> Exported:
    """A ``CiliumLoadBalancerIPPool`` per pool (all, or those named), with exactly the addresses
    lbctl hands out (``allowFirstLastIPs: Yes``; reserved addresses and an IPv6 CIDR's
    Subnet-Router anycast address left out)."""
    documents: list[Obj] = []
    warnings: list[str] = []
    for pool in _selected(state, names):
        blocks: list[Obj] = []
        for entry, pieces in _pieces(pool):
            for first, last in pieces:
                if entry.version == 6 and "/" in entry.text and first == entry.first \
                        and entry.last - entry.first >= 2:
                    first += 1  # lbctl never hands out the Subnet-Router anycast address
                if (first, last) == (entry.first, entry.last) and "/" in entry.text:
                    blocks.append({"cidr": entry.text})
                elif first <= last:
                    blocks.append({"start": format_ip(entry.version, first),
                                   "stop": format_ip(entry.version, last)})
        warnings.extend(_reservation_warning(pool, "Cilium"))
        spec: Obj = {"allowFirstLastIPs": "Yes", "blocks": blocks}
        expressions: list[Obj] = []
        if pool.namespaces:
            expressions.append({"key": CILIUM_NAMESPACE_LABEL, "operator": "In",
                                "values": list(pool.namespaces)})
        selector: Obj = {}
        if pool.service_selectors:
            if len(pool.service_selectors) > 1:
                warnings.append(f"pool {pool.name}: {len(pool.service_selectors)} service "
                                "selectors (any one may match) cannot be one Cilium "
                                "serviceSelector: only the first is exported, so the pool serves "
                                "fewer Services")
            selector = label_selector(pool.service_selectors[0])
        if expressions:
            selector["matchExpressions"] = [*selector.get("matchExpressions", []), *expressions]
        if selector:
            spec["serviceSelector"] = selector
        for setting, shown in ((not pool.auto_assign, "autoAssign false"),
                               (pool.avoid_buggy_ips, "avoidBuggyIPs"),
                               (pool.priority is not None, f"priority {pool.priority}"),
                               (bool(pool.node_selectors), "nodeSelectors"),
                               (bool(pool.interfaces), "interfaces"),
                               (announces_bgp(pool.announce), f"announce {pool.announce} (its "
                                "BGP advertisement)")):
            if setting:
                warnings.append(f"pool {pool.name}: {shown} has no Cilium equivalent and is "
                                "not exported")
        documents.append({"apiVersion": CILIUM_API, "kind": CILIUM_KIND,
                          "metadata": {"name": pool.name}, "spec": spec})
    return Exported(tuple(documents), tuple(warnings))


# --------------------------------------------------------------------------- export


def selected_pools(state: State, names: Sequence[str]) -> list[Pool]:
    """The pools named (each once), or every pool in allocation order; refused when none."""
    return _selected(state, names)


def _selected(state: State, names: Sequence[str]) -> list[Pool]:
    pools = [get_pool(state, n) for n in dict.fromkeys(names)] or pool_order(state.pools)
    if not pools:
        raise NotFoundError("no pools to export",
                            hint="add one: lbctl pool add NAME ADDRESS...")
    return pools


def _pieces(pool: Pool) -> list[tuple[AddrRange, list[tuple[int, int]]]]:
    """Each entry with the blocks left once reserved addresses are taken out."""
    reserved = sorted((parse_ip(ip).version, parse_ip(ip).value) for ip in pool.reservations)
    out = []
    for entry in pool.entries:
        blocks = []
        start = entry.first
        for version, value in reserved:
            if version == entry.version and entry.first <= value <= entry.last:
                if value > start:
                    blocks.append((start, value - 1))
                start = value + 1
        if start <= entry.last:
            blocks.append((start, entry.last))
        out.append((entry, blocks))
    return out


def _reservation_warning(pool: Pool, target: str) -> list[str]:
    if not pool.reservations:
        return []
    return [f"pool {pool.name}: reservations have no {target} equivalent; their addresses "
            f"({', '.join(sorted(pool.reservations, key=parse_ip))}) are left out of the "
            "exported addresses instead, and their notes are lost"]


def _single(version: int, value: int) -> str:
    return f"{format_ip(version, value)}/{32 if version == 4 else 128}"


def _bgp_documents(state: State, pools: Sequence[Pool], namespace: str,
                   warnings: list[str]) -> list[Obj]:
    """A BGPAdvertisement per pool announced over BGP (named after it), and, when there is one,
    a BGPPeer per lbctl peer."""
    documents: list[Obj] = []
    for pool in pools:
        if not announces_bgp(pool.announce):
            continue
        defaults = advertisement_document(Advertisement())  # MetalLB's defaults too
        spec: Obj = {"ipAddressPools": [pool.name]}
        spec.update((key, value) for key, value in advertisement_document(pool.bgp).items()
                    if defaults.get(key) != value)
        documents.append({"apiVersion": METALLB_API, "kind": "BGPAdvertisement",
                          "metadata": {"name": pool.name, "namespace": namespace},
                          "spec": spec})
    if not documents:
        return []
    for name in sorted(state.peers):
        peer = state.peers[name]
        spec = {"myASN": peer.my_asn, "peerASN": peer.asn, "peerAddress": peer.address}
        if peer.port != 179:
            spec["peerPort"] = peer.port
        if peer.hold_time != 90:
            spec["holdTime"] = f"{peer.hold_time}s"
        if peer.source_address:
            spec["sourceAddress"] = peer.source_address
        if peer.ebgp_multihop:
            spec["ebgpMultiHop"] = True
        if peer.node_selectors:
            spec["nodeSelectors"] = [label_selector(s) for s in peer.node_selectors]
        if peer.password_secret:
            spec["passwordSecret"] = {"name": peer.password_secret, "namespace": namespace}
            warnings.append(f"peer {name}: MetalLB reads the password from Secret "
                            f"{namespace}/{peer.password_secret} (type kubernetes.io/basic-auth, "
                            f"key password): copy kube-system/{peer.password_secret} there")
        documents.append({"apiVersion": METALLB_PEER_API, "kind": "BGPPeer",
                          "metadata": {"name": name, "namespace": namespace}, "spec": spec})
    return documents


def to_metallb(state: State, names: Sequence[str] = (),
               namespace: str = METALLB_NAMESPACE) -> Exported:
    """IPAddressPools for the pools (all, or those named), and the advertisements that make
    MetalLB announce them (it announces nothing no advertisement selects): L2Advertisements for
    the pools announced with layer 2 (``lbctl`` for the pools any node may announce on any
    interface, and ``lbctl-<pool>`` with the pool's ``nodeSelectors`` and ``interfaces`` for
    each pool that has some), and for those announced over BGP a BGPAdvertisement each and the
    BGPPeers."""
    documents: list[Obj] = []
    warnings: list[str] = []
    selected = _selected(state, names)
    for pool in selected:
        addresses = []
        for entry, blocks in _pieces(pool):
            for first, last in blocks:
                if (first, last) == (entry.first, entry.last) and "/" in entry.text:
                    addresses.append(entry.text)
                elif first == last:
                    addresses.append(_single(entry.version, first))
                else:
                    addresses.append(describe(entry.version, first, last))
        warnings.extend(_reservation_warning(pool, "MetalLB"))
        spec: Obj = {"addresses": addresses, "autoAssign": pool.auto_assign,
                     "avoidBuggyIPs": pool.avoid_buggy_ips}
        allocation: Obj = {}
        if pool.priority is not None:
            if pool.priority == 0:
                warnings.append(f"pool {pool.name}: priority 0 not exported: MetalLB reads 0 as "
                                "no priority (use 1 or more)")
            else:
                allocation["priority"] = pool.priority
        if pool.namespaces:
            allocation["namespaces"] = list(pool.namespaces)
        if pool.service_selectors:
            allocation["serviceSelectors"] = [label_selector(s) for s in pool.service_selectors]
        if allocation:
            spec["serviceAllocation"] = allocation
        documents.append({
            "apiVersion": METALLB_API,
            "kind": "IPAddressPool",
            "metadata": {"name": pool.name, "namespace": namespace},
            "spec": spec,
        })
    layer2 = [pool for pool in selected if announces_layer2(pool.announce)]
    everywhere = [pool.name for pool in layer2 if not pool.node_selectors and not pool.interfaces]
    if everywhere:
        documents.append(_l2_document(L2_ADVERTISEMENT, namespace, everywhere))
    for pool in layer2:
        if pool.node_selectors or pool.interfaces:
            documents.append(_l2_document(
                f"{L2_ADVERTISEMENT}-{pool.name}", namespace, [pool.name],
                [label_selector(text) for text in pool.node_selectors], list(pool.interfaces)))
        if pool.interfaces and not pool.node_selectors:
            warnings.append(f"pool {pool.name}: MetalLB chooses the node that announces an "
                            f"address without looking at interfaces ({', '.join(pool.interfaces)})"
                            ": a node that has none of them would hold the address and stay "
                            "silent (lbctl leaves such nodes out); give the pool node selectors "
                            "that match the nodes with them")
    documents.extend(_bgp_documents(state, selected, namespace, warnings))
    return Exported(tuple(documents), tuple(warnings))


def _l2_document(name: str, namespace: str, pools: list[str],
                 node_selectors: list[Obj] | None = None,
                 interfaces: list[str] | None = None) -> Obj:
    spec: Obj = {"ipAddressPools": pools}
    if node_selectors:
        spec["nodeSelectors"] = node_selectors
    if interfaces:
        spec["interfaces"] = interfaces
    return {"apiVersion": METALLB_API, "kind": "L2Advertisement",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def to_kubevip(state: State, names: Sequence[str] = (),
               namespace: str = KUBEVIP_NAMESPACE) -> Exported:
    """kube-vip's ConfigMap for the pools (all, or those named): one ``cidr-``/``range-`` key
    per scope (a pool's namespace, or ``global``)."""
    warnings: list[str] = []
    scopes: dict[str, list[Pool]] = {}
    for pool in _selected(state, names):
        if not pool.auto_assign:
            warnings.append(f"pool {pool.name} not exported: kube-vip has no autoAssign: false "
                            "(it would hand the addresses out to any Service); Services can "
                            "still ask for them with the kube-vip.io/loadbalancerIPs annotation")
            continue
        scope = pool.namespaces[0] if pool.namespaces else KUBEVIP_GLOBAL
        if len(pool.namespaces) > 1:
            warnings.append(f"pool {pool.name}: exported for namespace {scope} only: a kube-vip "
                            "pool serves one namespace (namespaces "
                            f"{', '.join(pool.namespaces[1:])} lose it)")
        if pool.service_selectors:
            warnings.append(f"pool {pool.name}: serviceSelectors ("
                            f"{' | '.join(pool.service_selectors)}) not exported: kube-vip has "
                            "no selectors; the pool serves "
                            + ("every Service" if scope == KUBEVIP_GLOBAL
                               else f"every Service of namespace {scope}"))
        if pool.priority is not None and scope == KUBEVIP_GLOBAL:
            warnings.append(f"pool {pool.name}: priority {pool.priority} not exported: kube-vip "
                            "has no priorities")
        if pool.avoid_buggy_ips:
            warnings.append(f"pool {pool.name}: avoidBuggyIPs not exported: kube-vip may hand "
                            "out addresses ending in .0 and .255")
        if pool.node_selectors:
            warnings.append(f"pool {pool.name}: nodeSelectors ("
                            f"{' | '.join(pool.node_selectors)}) not exported: kube-vip "
                            "announces from the node its election picks, whatever its labels")
        if pool.interfaces:
            warnings.append(f"pool {pool.name}: interfaces ({', '.join(pool.interfaces)}) not "
                            "exported: kube-vip answers on the interface it runs with")
        warnings.extend(_reservation_warning(pool, "kube-vip"))
        scopes.setdefault(scope, []).append(pool)
    data: dict[str, str] = {}
    for scope, pools in sorted(scopes.items()):
        if len(pools) > 1:
            serves = "every namespace" if scope == KUBEVIP_GLOBAL else f"namespace {scope}"
            warnings.append(f"pools {', '.join(p.name for p in pools)} merged into one kube-vip "
                            f"pool for {serves}")
        pieces = [piece for pool in pools for piece in _pieces(pool)]
        whole = all(blocks == [(e.first, e.last)] and "/" in e.text for e, blocks in pieces)
        if whole:
            data[f"cidr-{scope}"] = ",".join(e.text for e, _ in pieces)
        else:
            data[f"range-{scope}"] = ",".join(
                f"{format_ip(e.version, first)}-{format_ip(e.version, last)}"
                for e, blocks in pieces for first, last in blocks
            )
    exported = [p for pools in scopes.values() for p in pools]
    held = [r for r in state.all_records() if r.pool in {p.name for p in exported}]
    if held:
        warnings.append(f"{len(held)} allocations in the exported pools are not carried over: "
                        "kube-vip counts an address as used only when its Service has the "
                        "kube-vip.io/loadbalancerIPs annotation")
        shared = sorted({r.sharing_key for r in held if r.sharing_key})
        if shared:
            warnings.append(f"sharing keys ({', '.join(shared)}) not exported: kube-vip shares "
                            "with allow-share-<namespace>, between any Services whose ports "
                            "differ")
    if not data:
        raise RefusedError(
            "nothing to export: kube-vip has no autoAssign: false, which every selected pool has",
            hint="name pools with autoAssign, or export them with --format metallb",
        )
    document: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": KUBEVIP_CONFIGMAP, "namespace": namespace},
        "data": data,
    }
    return Exported((document,), tuple(warnings))
