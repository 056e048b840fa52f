"""Hostile addresses: ones that can never be a VIP (unspecified, loopback, link-local, multicast,
limited broadcast, IPv4-mapped/compatible IPv6), malformed ones, pools that hold the cluster's own
addresses, and requests for an address another Service already shows.  Each is refused in
``pool add``, ``pool reserve``, ``assign --ip`` or a Service's own request, with the state (file
or ConfigMap) and every Service unchanged."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.hostile.harness import Case, Result, cases_test
from tests.kubefake.server import FakeKubeServer

STATE = (
    "schemaVersion: 1\n"
    "pools:\n"
    "  web:\n"
    "    addresses: [192.168.1.30-192.168.1.49, 2001:db8::/120]\n"
)

#: Never a VIP: (case id, the address or entry, what the message says it is).
NEVER = [
    ("loopback", "127.0.0.1", "127.0.0.1 is a loopback address"),
    ("loopback-net", "127.0.0.0/8", "127.0.0.0/8 holds loopback addresses"),
    ("unspecified", "0.0.0.0", "0.0.0.0 is an unspecified address"),
    ("this-network", "0.1.2.3", "0.1.2.3 is a this-network address"),
    ("everything", "0.0.0.0/0", "0.0.0.0/0 holds unspecified addresses"),
    ("limited-broadcast", "255.255.255.255", "255.255.255.255 is a limited broadcast address"),
    ("multicast-net", "224.0.0.0/24", "224.0.0.0/24 holds multicast addresses"),
    ("multicast-range", "239.0.0.1-239.0.0.9", "holds multicast addresses"),
    ("link-local", "169.254.1.1", "169.254.1.1 is a link-local address"),
    ("link-local-range", "169.254.0.10-169.254.0.20", "holds link-local addresses"),
    ("range-into-multicast", "223.255.255.250-224.0.0.5", "holds multicast addresses"),
    ("v6-link-local", "fe80::1", "fe80::1 is a link-local address"),
    ("v6-link-local-net", "fe80::/64", "fe80::/64 holds link-local addresses"),
    ("v6-multicast", "ff02::1", "ff02::1 is a multicast address"),
    ("v6-loopback", "::1", "::1 is a loopback address"),
    ("v6-unspecified", "::", ":: is an unspecified address"),
    ("v4-mapped", "::ffff:192.168.1.30", "::ffff:192.168.1.30 is an IPv4-mapped IPv6 address"),
    ("v4-compatible", "::192.168.1.30", "::192.168.1.30 is an IPv4-compatible IPv6 address"),
    ("v4-mapped-net", "::ffff:10.0.0.0/120", "holds IPv4-mapped IPv6 addresses"),
]

#: Never even an address.
MALFORMED = [
    ("octet-too-big", "192.168.1.256", "is not an IP address"),
    ("leading-zeros", "192.168.001.030", "is not an IP address"),
    ("v6-two-gaps", "2001:db8::1::2", "is not an IP address"),
    ("trailing-dot", "192.168.1.30.", "is not an IP address"),
    ("with-port", "192.168.1.30:80", "is not an IP address"),
    ("zone-index", "fe80::1%eth0", "is not an IP address"),
    ("hostname", "lb.example.com", "is not an IP address"),
]


def offline(id: str, *argv: str, code: int, error: str, hint: str = "") -> Case:
    """A case on the file state ``STATE``."""
    return Case(id, [*argv, "--state", "{state}"], code=code, error=error, hint=hint, state=STATE)


def service(name: str, namespace: str = "shop", *, status: tuple[str, ...] = (),
            annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    }
    if status:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}}
    return body


NODE = {
    "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
    "spec": {"podCIDRs": ["10.244.0.0/24"]},
    "status": {"addresses": [{"type": "InternalIP", "address": "192.168.7.11"},
                             {"type": "Hostname", "address": "node-1"}]},
}
CLUSTER_IP = {**service("api", type="ClusterIP"),
              "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                       "ports": [{"port": 80}]}}


def on_cluster(id: str, *argv: str, code: int, error: str, hint: str = "",
               objects: tuple[dict[str, Any], ...] = ()) -> Case:
    """A case on the fake cluster, the state in its ConfigMap."""
    return Case(id, list(argv), code=code, error=error, hint=hint, cluster_state=STATE,
                objects=[NODE, CLUSTER_IP, *objects])


def _shown(objects: Any) -> dict[str, list[str]]:
    """What each Service's status.loadBalancer.ingress shows."""
    return {f"{s['metadata']['namespace']}/{s['metadata']['name']}": [
        i["ip"] for i in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
        for s in objects}


def refused_with_an_event(id: str, *argv: str, code: int, error: str,
                          objects: tuple[dict[str, Any], ...]) -> Case:
    """A Service whose request is refused: ``assign svc`` records the AllocationFailed Event
    (that is its job), and changes nothing else: the state and every status stay as they were."""
    expected = _shown((CLUSTER_IP, *objects))

    def check(tmp: Path, server: FakeKubeServer | None, result: Result) -> None:
        assert server is not None
        configmap = server.get_object("configmaps", "lbctl-state", "kube-system")
        assert configmap is not None and configmap["data"]["state.yaml"] == STATE
        assert _shown(server.objects_of("services")) == expected
        assert [e["reason"] for e in server.objects_of("events")] == ["AllocationFailed"]

    return replace(on_cluster(id, *argv, code=code, error=error, objects=objects),
                   unchanged=False, check=check)


CASES = [
    *(offline(f"pool-add-{id}", "pool", "add", "bad", text, code=2, error=error,
              hint="a VIP must be" if not id.startswith("v4-") or id.endswith("-net")
              else "write it as")
      for id, text, error in NEVER),
    *(offline(f"assign-ip-{id}", "assign", "svc", "web", "-n", "shop", "--ip", text, code=2,
              error=error)
      for id, text, error in NEVER if "/" not in text and "-" not in text),
    *(offline(f"pool-add-{id}", "pool", "add", "bad", text, code=2, error=error)
      for id, text, error in MALFORMED),
    *(offline(f"reserve-{id}", "pool", "reserve", "web", text, code=2, error=error)
      for id, text, error in MALFORMED[:4]),
    offline("reserve-v4-mapped-of-a-pool-address", "pool", "reserve", "web",
            "::ffff:192.168.1.30", code=2, error="is an IPv4-mapped IPv6 address",
            hint="write it as 192.168.1.30"),
    offline("reserve-loopback", "pool", "reserve", "web", "127.0.0.1", code=2,
            error="127.0.0.1 is a loopback address"),
    offline("pool-add-second-entry-bad", "pool", "add", "bad", "192.168.2.0/28", "ff02::1",
            code=2, error="ff02::1 is a multicast address"),
    offline("pool-add-reversed-range", "pool", "add", "bad", "192.168.2.9-192.168.2.1",
            code=2, error="is reversed", hint="192.168.2.1-192.168.2.9"),
    offline("pool-add-mixed-range", "pool", "add", "bad", "192.168.2.1-2001:db8::1",
            code=2, error="mixes IPv4 and IPv6"),
    offline("pool-add-host-bits", "pool", "add", "bad", "192.168.2.1/24",
            code=2, error="has host bits set", hint="192.168.2.0/24"),
    offline("pool-add-overlaps-another-pool", "pool", "add", "bad", "192.168.1.40/29",
            code=4, error="overlap"),
    offline("pool-add-v4-mapped-twin-of-a-pool", "pool", "add", "bad", "::ffff:192.168.1.30",
            code=2, error="IPv4-mapped", hint="write it as 192.168.1.30"),
    # The cluster's own addresses, refused by pool add on a cluster.
    on_cluster("pool-add-holds-a-node-address", "pool", "add", "bad", "192.168.7.0/28",
               code=4, error="pool bad contains 192.168.7.11, the InternalIP of node node-1",
               hint="--allow-cluster-overlap"),
    on_cluster("pool-add-overlaps-a-pod-cidr", "pool", "add", "bad", "10.244.0.128/25",
               code=4, error="overlaps pod CIDR 10.244.0.0/24 of node node-1",
               hint="--allow-cluster-overlap"),
    on_cluster("pool-add-holds-a-cluster-ip", "pool", "add", "bad", "10.96.0.16/28",
               code=4, error="pool bad contains 10.96.0.20, the ClusterIP of service shop/api",
               hint="--allow-cluster-overlap"),
    on_cluster("pool-add-holds-all-three", "pool", "add", "bad", "192.168.7.11",
               "10.244.0.7", "10.96.0.20", code=4, error="(and 2 more)"),
    # An address another Service shows (used-address rule).
    refused_with_an_event("assign-ip-published-by-another-controller", "assign", "svc", "web", "-n",
               "shop", "--ip", "192.168.1.30", code=4,
               error="192.168.1.30 is already published by service metallb-app/owner",
               objects=(service("owner", "metallb-app", status=("192.168.1.30",)),
                        service("web"))),
    refused_with_an_event("assign-ip-published-by-another-class", "assign", "svc", "web", "-n",
               "shop", "--ip", "192.168.1.31", code=4,
               error="192.168.1.31 is already published by service shop/cloud",
               objects=(service("cloud", status=("192.168.1.31",),
                                loadBalancerClass="example.com/cloud"), service("web"))),
    refused_with_an_event("annotation-published-by-another", "assign", "svc", "web", "-n", "shop",
               code=4, error="already published by service edge/hand",
               objects=(service("hand", "edge", status=("2001:db8::5",)),
                        service("web", annotations={"metallb.io/loadBalancerIPs": "2001:db8::5"},
                                ipFamilies=["IPv6"]))),
    refused_with_an_event("annotation-loopback", "assign", "svc", "web", "-n", "shop", code=2,
               error="service shop/web: metallb.io/loadBalancerIPs: 127.0.0.1 is a loopback "
                     "address",
               objects=(service("web", annotations={"metallb.io/loadBalancerIPs": "127.0.0.1"}),)),
    refused_with_an_event("spec-load-balancer-ip-multicast", "assign", "svc", "web", "-n", "shop",
                          code=2, error="spec.loadBalancerIP: 224.0.0.1 is a multicast address",
               objects=(service("web", loadBalancerIP="224.0.0.1"),)),
]

test_addresses = cases_test("addresses", CASES)
