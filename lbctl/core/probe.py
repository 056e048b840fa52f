"""What the answers to an ARP/NDP probe mean: the one rule ``arp probe`` and ``doctor`` share.

Two questions: "is this address free before I use it?" (nobody may answer) and "does exactly
one node answer for this VIP?" (none = nobody announces it; several = split brain, or kube-proxy
in IPVS mode without strictARP answering from every node).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lbctl.nodeports import Probed

Question = Literal["free", "one"]
Status = Literal["free", "in-use", "none", "one", "many"]


@dataclass(frozen=True)
class Verdict:
    """The answer to the question for one address, with a sentence for a person."""

    probed: Probed
    status: Status
    ok: bool
    detail: str



def judge(probed: Probed, question: Question) -> Verdict:
    """What the MACs that answered mean for ``question``."""
    ip, n = probed.ip, len(probed.macs)
    if question == "free":
        if n == 0:
            return Verdict(probed, "free", True, f"{ip}: nobody answered; the address is free")
        owners = ", ".join(probed.macs)
        return Verdict(probed, "in-use", False, f"{ip} is in use: answered by {owners}")
    if n == 0:
        return Verdict(probed, "none", False,
                       f"{ip}: nobody answered; no node announces it (is it assigned, and is "
                       "the node or speaker that should hold it up?)")
    if n == 1:
        return Verdict(probed, "one", True, f"{ip}: exactly one node answers ({probed.macs[0]})")
    return Verdict(probed, "many", False,
                   f"{ip}: {n} MACs answer ({', '.join(probed.macs)}): two nodes announce it "
                   "(split brain), or kube-proxy in IPVS mode answers from every node because "
                   "strictARP is off (see lbctl kube-proxy diff)")
