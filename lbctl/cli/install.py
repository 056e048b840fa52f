"""``lbctl install``: the manifests that run ``lbctl controller`` on the cluster.

Printed, never applied: pipe them to ``kubectl apply -f -`` (or commit them to a GitOps
repository).  They are built by :mod:`lbctl.core.install`: a ServiceAccount with least-privilege
RBAC from the one permission list (the same list ``lbctl doctor`` checks), a Deployment with
probes, resource requests, a non-root read-only container and anti-affinity, and a
PodDisruptionBudget.  ``-o yaml`` (the default) is a YAML stream; ``-o json`` one ``v1/List``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lbctl.cli import numbers, render
from lbctl.cli.context import Output, app_of, command
from lbctl.errors import UsageError

FORMATS = (Output.yaml, Output.json)


def register(root: typer.Typer) -> None:
    """Add ``lbctl install`` to the root command."""
    command(root, "install", exclude=("namespace", "all_namespaces", "dry_run", "state",
                                      "kubeconfig", "context"))(install)


def install(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option(
        "--image", metavar="IMAGE",
        help="The lbctl image to run (default: lbctl:VERSION, as the Containerfile builds "
             "it).")] = None,
    namespace: Annotated[str | None, typer.Option(
        "-n", "--namespace", metavar="NS",
        help="Namespace of the controller's Deployment and ServiceAccount (default: "
             "kube-system).")] = None,
    replicas: Annotated[int, numbers.count(
        "--replicas", maximum=9,
        help="Controller replicas: one leads, the others stand by (default: 2).")] = 2,
    speaker: Annotated[bool, typer.Option(
        "--speaker", help="Also the lbctl speaker DaemonSet (layer 2: answers ARP/NDP for "
                          "the addresses, on every node).")] = False,
) -> None:
    """Print the manifests that run lbctl controller on the cluster.

    A ServiceAccount lbctl-controller with exactly the permissions the controller uses (the
    state ConfigMap and the Lease kube-system/lbctl-controller in kube-system; Services, their
    status and Events everywhere), a Deployment of N replicas (leader election through the
    Lease; probes on /healthz and /readyz; non-root, read-only root filesystem; spread over
    nodes) and a PodDisruptionBudget.  Nothing is applied: pipe the output to kubectl.

    With --speaker, also the lbctl-speaker ServiceAccount, its RBAC and a DaemonSet running
    lbctl speaker on every node (host network, CAP_NET_RAW only).

    Example: lbctl install --image registry.example/lbctl:0.1.0 | kubectl apply -f -

    Example: lbctl install --speaker | kubectl apply -f -
    """
    from lbctl.core.install import DEFAULT_IMAGE, DEFAULT_NAMESPACE, Target, manifests

    app = app_of(ctx)
    output = app.require_output(*FORMATS, default=Output.yaml)
    if image is not None and (not image.strip() or any(c.isspace() for c in image)):
        raise UsageError(f"invalid --image {image!r}", hint="for example ghcr.io/me/lbctl:0.1.0")
    target = Target(image=image or DEFAULT_IMAGE,
                    namespace=namespace or app.options.namespace or DEFAULT_NAMESPACE,
                    replicas=replicas)
    components = ("controller", "speaker") if speaker else ("controller",)
    render.manifests(app.out, manifests(target, components), output.value)
