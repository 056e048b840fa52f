"""The BGP adapter: ExaBGP as a child process of ``lbctl speaker``, driven through its API.

This package implements the :class:`lbctl.nodeports.BGPSpeaker` port.  lbctl has no BGP code of its
own: ExaBGP (PyPI ``exabgp``) speaks the protocol; :mod:`lbctl.bgp.exabgp` writes its
configuration into a private temporary directory, starts it, and sends it ``announce`` /
``withdraw`` commands through its ``process`` API; :mod:`lbctl.bgp.child` is the small program
on the other side of that API and the launcher that makes ExaBGP die with its parent.

Nothing here reads the lbctl state or Kubernetes: which prefixes go to which peer is decided
above (:mod:`lbctl.core.bgpannounce`); passwords arrive already read from their Secrets.
"""
