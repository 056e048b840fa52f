"""What lbctl reads of a Node object: its addresses.

One rule for every reader: ``pool add`` and doctor refuse a pool holding a node's address
(:func:`lbctl.core.pools.cluster_overlaps`), the lost-state rule does not count a Service
showing one (:mod:`lbctl.core.lost`: no pool may hold it), and the speakers and ``svc check``
reach a node at its first one (:func:`lbctl.core.ownership.node_address`, BGP's router id and
local address).  Pure; a malformed entry of ``status.addresses`` is left out, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A Node as the API server sends it (read only).
Node = Mapping[str, Any]

#: The address types of ``status.addresses`` lbctl reads, in the order it prefers them.
ADDRESS_TYPES = ("InternalIP", "ExternalIP")


def _entries(node: Node | None) -> list[Mapping[str, Any]]:
    """The entries of ``status.addresses`` lbctl reads (of a type it reads, with an address)."""
    status = node.get("status") if node is not None else None
    entries = status.get("addresses") if isinstance(status, Mapping) else None
    if not isinstance(entries, list):
        return []
    return [a for a in entries
            if isinstance(a, Mapping) and a.get("address") and a.get("type") in ADDRESS_TYPES]


def typed_node_addresses(node: Node | None) -> list[tuple[str, str]]:
    """(type, address) of a node's ``InternalIP`` addresses, then of its ``ExternalIP`` ones
    (each kind in the order ``status.addresses`` lists them)."""
    entries = _entries(node)
    return [(wanted, str(a["address"])) for wanted in ADDRESS_TYPES
            for a in entries if a.get("type") == wanted]


def node_addresses(node: Node | None) -> list[str]:
    """A node's addresses, as :func:`typed_node_addresses` orders them."""
    return [address for _, address in typed_node_addresses(node)]


def addresses_only(node: Node) -> dict[str, Any]:
    """What :func:`typed_node_addresses` reads of ``node`` and nothing else, for a caller that
    keeps Nodes for their addresses only (a Node's status lists its images, often most of its
    size)."""
    return {"status": {"addresses": _entries(node)}}
