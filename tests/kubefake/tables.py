"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

Owns the columns kubectl shows for Services (``TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE``),
ConfigMaps (``DATA AGE``), Namespaces (``STATUS AGE``) and, for everything else, ``NAME AGE``,
so that ``kubectl get svc -A`` against the fake looks like it does against a cluster.  Pure
functions of the objects and the current time; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj, datetime], Any]]  # name, type, priority, cell


def age(obj: Obj, now: datetime) -> str:
    """kubectl's short age: ``42s``, ``5m``, ``3h``, ``12d``."""
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = int(
        (
            now - datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        ).total_seconds()
    )
    for unit, size, limit in (("s", 1, 120), ("m", 60, 120 * 60), ("h", 3600, 48 * 3600)):
        if seconds < limit:
            return f"{max(seconds, 0) // size}{unit}"
    return f"{seconds // 86400}d"


def _name(obj: Obj, _now: datetime) -> str:
    return str(obj["metadata"]["name"])


def _external_ip(service: Obj, _now: datetime) -> str:
    spec = service.get("spec", {})
    ingress = (service.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    addresses = [i.get("ip") or i.get("hostname") for i in ingress] + list(
        spec.get("externalIPs") or []
    )
    if addresses:
        return ",".join(a for a in addresses if a)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _ports(service: Obj, _now: datetime) -> str:
    ports = service.get("spec", {}).get("ports") or []
    shown = []
    for port in ports:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        shown.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(shown) or "<none>"


def _selector(service: Obj, _now: datetime) -> str:
    selector = service.get("spec", {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, age)
COLUMNS: dict[str, list[Column]] = {
    "services": [
        NAME,
        ("Type", "string", 0, lambda o, _n: o.get("spec", {}).get("type", "")),
        ("Cluster-IP", "string", 0, lambda o, _n: o.get("spec", {}).get("clusterIP") or "<none>"),
        ("External-IP", "string", 0, _external_ip),
        ("Port(s)", "string", 0, _ports),
        AGE,
        ("Selector", "string", 1, _selector),
    ],
    "configmaps": [
        NAME,
        (
            "Data",
            "integer",
            0,
            lambda o, _n: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        ),
        AGE,
    ],
    "namespaces": [
        NAME,
        ("Status", "string", 0, lambda o, _n: o.get("status", {}).get("phase", "")),
        AGE,
    ],
}


def table(
    plural: str, objects: Iterable[Obj], resource_version: str, now: datetime | None = None
) -> Obj:
    """The Table for ``objects`` of resource ``plural``."""
    now = now or datetime.now(timezone.utc)
    columns = COLUMNS.get(plural, [NAME, AGE])
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, kind, priority, _cell in columns
        ],
        "rows": [
            {
                "cells": [cell(obj, now) for _n, _k, _p, cell in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
            for obj in objects
        ],
    }
