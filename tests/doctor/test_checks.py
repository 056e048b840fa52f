"""The checks on facts built in memory: the cases the examples do not show, in milliseconds."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from lbctl.core.permissions import PERMISSIONS
from lbctl.doctor import checks
from lbctl.doctor.facts import Absent, ProxyConfigText, StateText
from lbctl.errors import UsageError
from tests.doctor.clusters import EXAMPLES, workload
from tests.doctor.facts import STATE, facts, node, run, service

# --------------------------------------------------------------------------- the state document


def test_each_state_problem_is_filed_under_its_own_check() -> None:
    text = (EXAMPLES / "broken-state" / "lbctl-state.yaml").read_text()
    found = facts(state=StateText(text, "state file x.yaml"))
    messages = {r.id: [f.message for f in r.findings] for r in checks.diagnose(found)
                if r.id.startswith("state.")}
    assert messages == {
        "state.parse": ["state file x.yaml: unknown field 'colour' in pool default "
                        "(line 9, column 5)"],
        "state.schema": ["state file x.yaml: the state document's schemaVersion is one this "
                         "lbctl knows"],
        "state.pool-overlap": ["state file x.yaml: pools default and extra overlap: "
                               "192.168.40.10-192.168.40.29 and 192.168.40.25-192.168.40.35 "
                               "share 192.168.40.25-192.168.40.29"],
        "state.shared-ip": ["state file x.yaml: 192.168.40.10 is held by web/frontend and "
                            "web/api: web/frontend has no sharing key"],
        "state.outside-pool": ["state file x.yaml: web/admin: 10.9.9.9 is outside every pool"],
        "state.consistency": ["state file x.yaml: pool empty has no addresses"],
        "state.missing": ["state file x.yaml: the state document exists"],
    }


def test_a_document_that_is_not_yaml_fails_parse_and_skips_the_rest() -> None:
    found = facts(state=StateText("pools: [unclosed", "state file x.yaml"))
    results = {r.id: r for r in checks.diagnose(found)}
    assert results["state.parse"].status == "error"
    assert results["state.parse"].findings[0].message == (
        "state file x.yaml: not valid YAML: did not find expected ',' or ']' "
        "(line 2, column 1)")
    assert results["state.pool-overlap"].status == "skip"
    skipped = results["pool.utilisation"].findings[0]
    assert (skipped.severity, skipped.message) == (
        "skip", "the state document is invalid (see the state.* checks)")


def test_a_duplicate_key_fails_parse_and_skips_the_rest() -> None:
    text = ("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/30]}\n"
            "  a: {addresses: [10.0.1.0/30]}\n")
    results = {r.id: r for r in checks.diagnose(facts(state=StateText(text, "state file x.yaml")))}
    assert results["state.parse"].status == "error"
    assert results["state.parse"].findings[0].message == (
        "state file x.yaml: the key 'a' is given twice in one mapping (also at line 3, "
        "column 3) (line 4, column 3)")
    assert results["state.pool-overlap"].status == "skip"
    assert results["state.consistency"].status == "skip"


def test_no_state_document_yet_passes() -> None:
    found = facts(state=StateText(None, "ConfigMap kube-system/lbctl-state"))
    result = run("state.parse", found)
    assert result.findings[0].message == ("ConfigMap kube-system/lbctl-state: no state document "
                                          "yet (no pools, no allocations)")
    assert run("pool.utilisation", found).status == "pass"


def test_an_unreadable_state_document_fails_parse() -> None:
    found = facts(state=StateText(None, "state file x.yaml", problem="x.yaml is not UTF-8 text"))
    assert run("state.parse", found).findings[0].message == (
        "state file x.yaml: x.yaml is not UTF-8 text")


def test_a_state_that_cannot_be_read_skips_with_the_reason() -> None:
    found = facts(state=Absent("forbidden: configmaps \"lbctl-state\" is forbidden"))
    result = run("state.shared-ip", found)
    assert (result.status, result.findings[0].message) == (
        "skip", "forbidden: configmaps \"lbctl-state\" is forbidden")


# --------------------------------------------------------------------------- pools


def test_a_reserved_node_address_is_not_a_problem() -> None:
    state = STATE.replace("{addresses: [192.0.2.10-192.0.2.19]}",
                          "{addresses: [192.0.2.10-192.0.2.19], reservations: {192.0.2.15: n1}}")
    found = facts(state=StateText(state, "s"), nodes=[node("n1", "192.0.2.15")])
    assert run("pool.node-overlap", found).status == "pass"
    result = run("pool.node-overlap", facts(nodes=[node("n1", "192.0.2.15")]))
    assert result.findings[0].objects == ("pool/default", "node/n1")


@pytest.mark.parametrize(("addresses", "avoid", "reserved", "status"), [
    ("192.0.2.0/24", "false", "", "warning"),
    ("192.0.2.0/24", "true", "", "pass"),
    ("192.0.2.1-192.0.2.254", "false", "", "pass"),
    ("192.0.2.0-192.0.2.254", "false", ", reservations: {192.0.2.0: network}", "pass"),
    ("2001:db8::/120", "false", "", "pass"),  # .0/.255 is an IPv4 matter
])
def test_buggy_addresses(addresses: str, avoid: str, reserved: str, status: str) -> None:
    state = ("schemaVersion: 1\npools:\n  p: {addresses: [" + addresses + "], avoidBuggyIPs: "
             + avoid + reserved + "}\n")
    assert run("pool.buggy-ips", facts(state=StateText(state, "s"))).status == status


def test_utilisation_warns_at_ninety_percent() -> None:
    def state(used: int) -> StateText:
        allocations = "".join(f"    s{i}: {{ips: [192.0.2.{10 + i}], pool: default}}\n"
                              for i in range(used))
        return StateText(STATE.split("allocations:")[0] + "allocations:\n  web:\n" + allocations,
                         "s")

    assert run("pool.utilisation", facts(state=state(8))).status == "pass"
    result = run("pool.utilisation", facts(state=state(9)))
    assert result.findings[0].message == ("pool default is 90% used: 9 of 10 IPv4 addresses "
                                          "allocated, held or reserved")


# --------------------------------------------------------------------------- Services


def test_a_pending_service_the_allocator_can_serve_is_a_warning() -> None:
    found = facts(services=[service("frontend", ips=("192.0.2.10",)),
                            service("api"), service("blog")])
    findings = run("svc.pending", found).findings
    assert [(f.severity, f.message) for f in findings] == [
        ("warning", "service web/api is pending; the allocator would give it 192.0.2.11 from "
                    "pool default"),
        ("warning", "service web/blog is pending; the allocator would give it 192.0.2.12 from "
                    "pool default"),
    ]
    assert findings[0].hint == "assign it: lbctl assign svc api -n web (or lbctl assign --all -A)"


def test_a_malformed_request_is_reported_not_raised() -> None:
    bad = service("api", annotations={"metallb.io/loadBalancerIPs": "not-an-ip"})
    results = {r.id: r for r in checks.diagnose(facts(services=[bad]))}
    assert results["svc.pending"].findings[0].message == (
        "service web/api is pending: service web/api: metallb.io/loadBalancerIPs is "
        "'not-an-ip', not a list of IP addresses")
    assert results["svc.requested-ip"].status == "error"


def test_unpublished_allocations_are_drift_only_when_a_status_is_known() -> None:
    live = facts(services=[service("frontend")])
    assert [(f.severity, f.message) for f in run("svc.drift", live).findings] == [
        ("warning", "service web/frontend: the state records 192.0.2.10, which the status does "
                    "not show")]
    manifest = facts(services=[service("frontend", status=False)])
    assert run("svc.drift", manifest).status == "pass"


def test_foreign_services_are_not_lbctls_business() -> None:
    other = service("frontend", ips=("203.0.113.5",), loadBalancerClass="example.com/other")
    found = facts(services=[other])
    for check in ("svc.drift", "svc.outside-pools", "svc.pending"):
        assert run(check, found).status == "pass", check
    assert run("svc.orphan", found).findings[0].message == (
        "the state allocates 192.0.2.10 (pool default) to service web/frontend, which now has "
        "loadBalancerClass example.com/other; its status shows 203.0.113.5, in use while it "
        "does")


@pytest.mark.parametrize(("first", "second", "status"), [
    ({}, {}, "error"),
    ({"metallb.io/allow-shared-ip": "k"}, {"metallb.io/allow-shared-ip": "k"}, "pass"),
    ({"metallb.io/allow-shared-ip": "k"}, {"metallb.io/allow-shared-ip": "other"}, "error"),
])
def test_shared_addresses_follow_the_sharing_rules(first: dict[str, str],
                                                   second: dict[str, str], status: str) -> None:
    found = facts(services=[
        service("frontend", ips=("192.0.2.10",), annotations=first, ports=(80,)),
        service("api", ips=("192.0.2.10",), annotations=second, ports=(443,)),
    ])
    assert run("svc.shared-ip", found).status == status


def test_local_services_without_an_address_need_no_endpoints() -> None:
    found = facts(services=[service("api", policy="Local", status=False)],
                  state=StateText("schemaVersion: 1\npools: {}\n", "s"))
    result = run("svc.local-no-endpoints", found)
    assert result.findings[0].message == ("every addressed externalTrafficPolicy: Local Service "
                                          "has a ready endpoint (1 such Service)")


# --------------------------------------------------------------------------- kube-proxy


def _k3s_node(name: str, args: list[str]) -> dict[str, object]:
    found = node(name, "192.168.1.11", annotations={"k3s.io/node-args": json.dumps(args)})
    found["status"]["nodeInfo"]["kubeletVersion"] = "v1.30.4+k3s1"
    return found


@pytest.mark.parametrize(("args", "status"), [
    (["server", "--kube-proxy-arg", "proxy-mode=ipvs"], "error"),
    (["server", "--kube-proxy-arg", "proxy-mode=ipvs",
      "--kube-proxy-arg", "ipvs-strict-arp=true"], "pass"),
    (["server"], "pass"),
])
def test_k3s_kube_proxy_flags(args: list[str], status: str) -> None:
    result = run("kube-proxy.strict-arp", facts(nodes=[_k3s_node("k1", args)]))
    assert result.status == status, result.findings


def test_no_kube_proxy_configuration_skips() -> None:
    result = run("kube-proxy.strict-arp", facts(nodes=[node("n1", "192.168.1.11")]))
    assert result.status == "skip"
    assert result.findings[0].message.startswith("no kube-proxy ConfigMap kube-system/kube-proxy")


def test_an_unreadable_kube_proxy_configuration_is_an_error() -> None:
    found = facts(kube_proxy=ProxyConfigText("mode: [", "ConfigMap kube-system/kube-proxy"))
    result = run("kube-proxy.strict-arp", found)
    assert result.status == "error"
    assert result.findings[0].message.startswith("cannot read kube-proxy's configuration")


# --------------------------------------------------------------------------- other implementations


def test_cilium_is_dormant_without_pools_and_quiet_when_switched_off() -> None:
    operator = workload("Deployment", "kube-system", "cilium-operator",
                        "quay.io/cilium/operator-generic:v1.16.1")
    assert run("impl.cilium", facts(workloads=[operator])).status == "info"
    off = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cilium-config", "namespace": "kube-system"},
           "data": {"enable-lb-ipam": "false"}}
    result = run("impl.cilium", facts(workloads=[operator], configmaps=[off]))
    assert result.findings[0].message == (
        "Cilium LB IPAM is installed but switched off: ConfigMap kube-system/cilium-config "
        "sets enable-lb-ipam: 'false'")


def test_metallb_found_by_label_in_any_namespace() -> None:
    speaker = workload("DaemonSet", "lb", "speaker", "example.com/mirror/speaker:1",
                       {"app.kubernetes.io/name": "metallb"})
    result = run("impl.metallb", facts(workloads=[speaker]))
    assert result.findings[0].message.startswith(
        "MetalLB runs in the cluster: DaemonSet lb/speaker (by label "
        "app.kubernetes.io/name=metallb)")


def test_what_could_not_be_read_skips_live_and_counts_as_absent_offline() -> None:
    forbidden = Absent("forbidden: deployments.apps is forbidden")
    assert run("impl.purelb", facts(workloads=forbidden)).findings[0].message == (
        "forbidden: deployments.apps is forbidden")
    offline = facts(mode="offline", workloads=[], nodes=Absent("no Node manifests"))
    assert run("impl.servicelb", offline).findings[0].message == (
        "no trace of k3s ServiceLB (klipper-lb) among the files")


# --------------------------------------------------------------------------- permissions


def test_each_missing_permission_is_named_with_its_reason() -> None:
    answers = [(p, not (p.verb == "patch" and p.subresource == "status")) for p in PERMISSIONS]
    result = run("rbac.permissions", facts(permissions=answers))
    assert [f.message for f in result.findings] == [
        "this identity may not patch services/status (all namespaces): lbctl needs it to "
        "publish the address in status.loadBalancer.ingress, and withdraw it (assign, release, "
        "reconcile, controller)"]


def test_permissions_in_another_load_balancers_namespace_only_warn() -> None:
    """What ``lbctl rbac`` grants without --metallb: doctor passes on a cluster without
    MetalLB, and says how to grant the rest where it runs."""
    answers = [(p, not p.optional) for p in PERMISSIONS]
    result = run("rbac.permissions", facts(permissions=answers))
    assert {f.severity for f in result.findings} == {"warning"}
    assert len(result.findings) == sum(p.optional for p in PERMISSIONS) == 5
    assert result.findings[0].message.startswith(
        "this identity may not get configmaps metallb-system/config: lbctl needs it only where "
        "metallb-system exists (another load balancer's namespace), to read MetalLB's "
        "configuration")
    assert result.findings[0].hint == "where it exists, grant it with lbctl rbac --metallb"


# --------------------------------------------------------------------------- skipping


@pytest.mark.parametrize(("given", "chosen"), [
    (["svc.orphan"], {"svc.orphan"}),
    (["impl"], {i for i in checks.IDS if i.startswith("impl.")}),
    (["kube-proxy.*"], {"kube-proxy.strict-arp"}),
])
def test_skip_selects_ids_and_groups(given: list[str], chosen: set[str]) -> None:
    assert checks.selected(given) == chosen


def test_skip_refuses_an_unknown_check() -> None:
    with pytest.raises(UsageError, match="unknown check 'svc.orphans' in --skip"):
        checks.selected(["svc.orphans"])


def test_skipped_checks_say_so_and_do_not_run() -> None:
    results = {r.id: r for r in checks.diagnose(facts(state=Absent("x")), ["state"])}
    assert results["state.parse"].findings[0].message == "skipped with --skip"
    assert results["pool.utilisation"].findings[0].message == "x"


# --------------------------------------------------------------------------- the controller


def _lease(holder: str, renewed_ago: float) -> dict[str, object]:
    from datetime import timedelta

    from lbctl.core.leases import format_micro_time

    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "lbctl-controller", "namespace": "kube-system"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "renewTime": format_micro_time(READ_AT - timedelta(seconds=renewed_ago))}}


READ_AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
DEPLOYMENT = {"kind": "Deployment",
              "metadata": {"name": "lbctl-controller", "namespace": "kube-system"}}


@pytest.mark.parametrize(("lease", "workloads", "severity", "message"), [
    (_lease("ctl-a", 3), [DEPLOYMENT], "pass",
     "controller ctl-a leads (Lease kube-system/lbctl-controller, renewed 3s ago)"),
    (_lease("ctl-a", 60), [DEPLOYMENT], "error",
     "no lbctl controller leads: ctl-a stopped renewing it 60s ago (Lease "
     "kube-system/lbctl-controller); new Services stay pending"),
    (_lease("", 60), [DEPLOYMENT], "error",
     "no lbctl controller leads: the last leader gave the Lease up (Lease "
     "kube-system/lbctl-controller); new Services stay pending"),
    (_lease("", 60), [], "info",
     "no lbctl controller runs (the last one gave up the Lease kube-system/lbctl-controller "
     "60s ago)"),
    (None, [DEPLOYMENT], "error",
     "the lbctl-controller Deployment is installed but no replica has ever held the Lease "
     "kube-system/lbctl-controller: the controller is not running"),
    (None, [], "info",
     "no lbctl controller runs: Services get addresses only from lbctl assign and reconcile"),
])
def test_controller_leader(lease: object, workloads: list[object], severity: str,
                           message: str) -> None:
    result = run("controller.leader", facts(controller_lease=lease, workloads=workloads,
                                            read_at=READ_AT))
    [finding] = result.findings
    assert (finding.severity, finding.message) == (severity, message)


def test_controller_leader_is_skipped_offline() -> None:
    result = run("controller.leader", facts())
    assert result.findings[0].severity == "skip"


# --------------------------------------------------------------------------- BGP

_V4_PEER = "r4: {address: 192.0.2.1, asn: 64501, myASN: 64500}"
_V6_PEER = "r6: {address: '2001:db8::1', asn: 64501, myASN: 64500}"
_CALICO_V6 = {"apiVersion": "crd.projectcalico.org/v1", "kind": "BGPConfiguration",
              "metadata": {"name": "default"},
              "spec": {"serviceLoadBalancerIPs": [{"cidr": "2001:db8:5::/120"}]}}


def _routed(announce: str, peers: str, bgp: str = "") -> StateText:
    return StateText("schemaVersion: 1\npools:\n"
                     "  p: {addresses: [192.0.2.10-192.0.2.19, '2001:db8:5::/120'], "
                     f"announce: {announce}{bgp}}}\n" + (f"peers:\n  {peers}\n" if peers else ""),
                     "s")


@pytest.mark.parametrize(("state", "calico", "severity", "message", "hint"), [
    (StateText(STATE, "s"), [], "pass", "no pool is announced over BGP", ""),
    (_routed("bgp", f"{_V4_PEER}\n  {_V6_PEER}"), [], "pass",
     "the addresses of each pool announced over BGP are sent to a router (1 pool)", ""),
    (_routed("bgp", _V4_PEER), [], "error",
     "pool p is announced over BGP, but no BGP peer is sent its IPv6 addresses: no router "
     "learns a route to them, so Services that get them are unreachable",
     "add a BGP peer of that family: lbctl bgp peer add NAME --address A --asn N --my-asn M"),
    (_routed("bgp", ""), [], "error",
     "pool p is announced over BGP, but no BGP peer is sent its IPv4 and IPv6 addresses: no "
     "router learns a route to them, so Services that get them are unreachable",
     "add a BGP peer of that family: lbctl bgp peer add NAME --address A --asn N --my-asn M"),
    (_routed("both", _V4_PEER), [], "warning",
     "pool p is announced over BGP, but no BGP peer is sent its IPv6 addresses: no router "
     "learns a route to them, so Services that get them are reachable only from the nodes' own "
     "segment (ARP/NDP)",
     "add a BGP peer of that family: lbctl bgp peer add NAME --address A --asn N --my-asn M"),
    (_routed("bgp", f"{_V4_PEER}\n  {_V6_PEER}", ", bgp: {peers: [r4]}"), [], "error",
     "pool p is announced over BGP, but no BGP peer is sent its IPv6 addresses: no router "
     "learns a route to them, so Services that get them are unreachable",
     "its advertisement names only r4: lbctl pool set p --all-bgp-peers (or --bgp-peer PEER "
     "for a peer of that family)"),
    # Calico's nodes announce what its serviceLoadBalancerIPs cover: that family is heard.
    (_routed("bgp", _V4_PEER), [_CALICO_V6], "pass",
     "the addresses of each pool announced over BGP are sent to a router (1 pool)", ""),
])
def test_a_pool_no_bgp_peer_hears(state: StateText, calico: list[object], severity: str,
                                  message: str, hint: str) -> None:
    [finding] = run("bgp.unheard", facts(state=state, calico=calico)).findings
    assert (finding.severity, finding.message, finding.hint) == (severity, message, hint)


def test_an_offline_hint_names_the_state_file_doctor_read() -> None:
    found = facts(state=_routed("bgp", ""), state_option=" --state lb.yaml")
    [finding] = run("bgp.unheard", found).findings
    assert finding.hint == ("add a BGP peer of that family: lbctl bgp peer add NAME --state "
                            "lb.yaml --address A --asn N --my-asn M")
