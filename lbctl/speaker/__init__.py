"""``lbctl speaker``: the long-running layer 2 announcer, one per node.

It watches Services, EndpointSlices, Nodes, the speakers' Leases and the state ConfigMap,
computes who owns each address with the one rule in :mod:`lbctl.core.ownership`, answers
ARP/NDP for the addresses this node owns (the :class:`~lbctl.nodeports.Responder` port), sends
gratuitous ARP / unsolicited NA when it takes one over (the :class:`~lbctl.nodeports.Announcer`
port), and keeps its own Lease fresh (:class:`lbctl.actions.leases.Elector`).  It holds no rule
of its own.
"""
