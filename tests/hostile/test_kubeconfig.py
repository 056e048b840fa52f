"""Hostile kubeconfigs, for every command that talks to the cluster.

Each case passes ``--kubeconfig {tmp}/bad.yaml`` while ``KUBECONFIG`` names a good kubeconfig of
a fake apiserver that holds a state ConfigMap and a pending Service: a bad ``--kubeconfig`` must
be refused, never replaced by the one in the environment (which would act on another cluster).
The refusal names the file (exit 2), or says the cluster cannot be reached (exit 7), and the
apiserver's objects stay as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tests.hostile.harness import Case, Dir, Fifo, FileSpec, Link, cases_test

CLUSTER_STATE = """\
schemaVersion: 1
pools:
  web:
    addresses: [10.0.0.0/29]
"""
SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": "web"}},
}

#: Every command that reads the kubeconfig (``arp announce`` only with --dry-run: nothing may
#: leave this machine even if a refusal regressed).
COMMANDS: dict[str, Sequence[str]] = {
    "svc-list": ["svc", "list"],
    "svc-show": ["svc", "show", "web"],
    "assign": ["assign", "svc", "web"],
    "assign-all": ["assign", "--all"],
    "release": ["release", "svc", "web"],
    "reconcile": ["reconcile"],
    "pool-list": ["pool", "list"],
    "pool-add": ["pool", "add", "more", "10.0.1.0/29"],
    "pool-import": ["pool", "import", "metallb"],
    "kube-proxy-diff": ["kube-proxy", "diff"],
    "kube-proxy-apply": ["kube-proxy", "apply"],
    "doctor": ["doctor"],
    "arp-announce": ["arp", "announce", "svc/web", "--dry-run"],
}
#: Hazards run for a few commands only (they reach the same code as the others).
FEW = ("svc-list", "assign", "pool-add")


def kubeconfig(*, current: str = "c", cluster: str = "{server: 'https://127.0.0.1:1'}",
               user: str = "{}", context: str = "{cluster: k, user: u}") -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"current-context: {current}\n"
        f"clusters: [{{name: k, cluster: {cluster}}}]\n"
        f"contexts: [{{name: c, context: {context}}}]\n"
        f"users: [{{name: u, user: {user}}}]\n"
    )


def kubectl_layout(*, current: str = "c", user: str = "    token: x") -> str:
    """A kubeconfig as kubectl writes it (block style, sequences at their key's column): the
    layout lbctl reads in one pass, without its event reader, when it holds nothing hostile."""
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:1\n  name: k\n"
        "contexts:\n- context:\n    cluster: k\n    user: u\n  name: c\n"
        f"current-context: {current}\nkind: Config\npreferences: {{}}\n"
        f"users:\n- name: u\n  user:\n{user}\n"
    )


#: Nine levels of nine aliases each: 9**9 strings once expanded, 480 bytes as text.
_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


@dataclass(frozen=True)
class Hazard:
    name: str
    content: FileSpec | None  # None: the file does not exist
    code: int
    error: str
    hint: str = ""
    extra: Sequence[str] = ()
    commands: Sequence[str] = tuple(COMMANDS)
    xfail: str | None = None


HAZARDS = [
    Hazard("missing", None, 7, "no Kubernetes configuration found (looked in {tmp}/bad.yaml)",
           "--kubeconfig"),
    Hazard("empty", "", 2, "{tmp}/bad.yaml", "--kubeconfig"),
    Hazard("not-utf8", b"\xff\xfe\x00kind: Config\n", 2, "{tmp}/bad.yaml", "--kubeconfig"),
    Hazard("a-list", "- a\n- b\n", 2, "{tmp}/bad.yaml", "--kubeconfig"),
    Hazard("empty-current-context", kubeconfig(current="''"), 2, "{tmp}/bad.yaml"),
    Hazard("current-context-missing", kubeconfig(current="gone"), 2, "{tmp}/bad.yaml",
           commands=FEW),
    Hazard("context-names-missing-cluster", kubeconfig(context="{cluster: nowhere, user: u}"), 2,
           "{tmp}/bad.yaml", commands=FEW),
    Hazard("a-directory", Dir(), 2, "{tmp}/bad.yaml", "--kubeconfig", commands=FEW),
    Hazard("alias-bomb", _BOMB + kubeconfig(user="{token: *a8}"), 2,
           "{tmp}/bad.yaml:6:10: aliases expand to more than 100000 nodes", "--kubeconfig"),
    Hazard("nested-too-deep", kubeconfig(user="{token: x, extra: " + "[" * 200 + "]" * 200 + "}"),
           2, "{tmp}/bad.yaml:6:139: collections nested more than 100 deep", "--kubeconfig",
           commands=FEW),
    Hazard("kubectl-layout-alias-bomb", _BOMB + kubectl_layout(user="    token: *a8"), 2,
           "{tmp}/bad.yaml:6:10: aliases expand to more than 100000 nodes", "--kubeconfig",
           commands=FEW),
    Hazard("kubectl-layout-nested-too-deep",
           kubectl_layout(user="".join(f"{'  ' * i}    k:\n" for i in range(120)).rstrip()), 2,
           "{tmp}/bad.yaml:114:199: collections nested more than 100 deep", "--kubeconfig",
           commands=FEW),
    Hazard("kubectl-layout-current-context-missing", kubectl_layout(current="gone"), 2,
           "{tmp}/bad.yaml", commands=FEW),
    Hazard("kubectl-layout-server-refuses-connections", kubectl_layout(), 7,
           "cannot reach the API server at https://127.0.0.1:1: connection refused",
           "the cluster is up", commands=FEW),
    Hazard("a-named-pipe", Fifo(), 2,
           "kubeconfig {tmp}/bad.yaml is a named pipe, not a regular file", "--kubeconfig"),
    Hazard("a-link-to-dev-zero", Link("/dev/zero"), 2,
           "kubeconfig {tmp}/bad.yaml is a character device, not a regular file", "--kubeconfig",
           commands=FEW),
    Hazard("token-file-missing", kubeconfig(user="{tokenFile: /nonexistent/token}"), 2,
           "{tmp}/bad.yaml", commands=FEW),
    Hazard("unknown-context", kubeconfig(), 2, "context 'nope' not found in {tmp}/bad.yaml",
           "get-contexts", extra=("--context", "nope"), commands=FEW),
    Hazard("server-refuses-connections", kubeconfig(), 7,
           "cannot reach the API server at https://127.0.0.1:1: connection refused",
           "the cluster is up"),
    Hazard("server-url-not-a-url", kubeconfig(cluster="{server: 'not a url'}"), 7,
           "cannot reach the API server", commands=("svc-list",)),
    Hazard("no-server", kubeconfig(cluster="{}"), 2, "{tmp}/bad.yaml", "clusters[].cluster.server",
           commands=("svc-list",)),
    Hazard("exec-plugin-missing",
           kubeconfig(user="{exec: {apiVersion: client.authentication.k8s.io/v1, "
                           "command: /nonexistent/plugin}}"),
           2, "/nonexistent/plugin", "exec.command", commands=("svc-list",)),
]


def _cases() -> list[Case]:
    found = []
    for hazard in HAZARDS:
        files = {} if hazard.content is None else {"bad.yaml": hazard.content}
        for name in hazard.commands:
            found.append(Case(
                f"{hazard.name}-{name}",
                [*COMMANDS[name], "--kubeconfig", "{tmp}/bad.yaml", *hazard.extra],
                code=hazard.code, error=hazard.error, hint=hazard.hint, files=files,
                objects=[SERVICE], cluster_state=CLUSTER_STATE, xfail=hazard.xfail,
                timeout=20.0,
            ))
    return found


test_kubeconfig = cases_test("kubeconfig", _cases())
