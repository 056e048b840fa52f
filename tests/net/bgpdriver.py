"""Drives :class:`lbctl.bgp.exabgp.ExaBGP` from a process inside a node namespace, for the
adapter's tests: one JSON command per stdin line, one JSON answer per stdout line.

``{"configure": [BGPSession fields...]}``, ``{"advertise": [BGPRoute fields...]}``,
``{"status": null}`` (answers ``{"sessions": {...}, "announced": n, "pid": ExaBGP's pid}``),
``{"close": null}``.  End of input: exit without closing (like a killed speaker, but slower).
"""

from __future__ import annotations

import json
import sys

from lbctl.bgp.exabgp import ExaBGP
from lbctl.nodeports import BGPRoute, BGPSession


def main() -> None:
    bgp = ExaBGP(log=lambda line: print(f"driver: {line}", file=sys.stderr, flush=True))
    for line in sys.stdin:
        request = json.loads(line)
        answer: object = "ok"
        if "configure" in request:
            bgp.configure([BGPSession(**s) for s in request["configure"]])
        elif "advertise" in request:
            bgp.advertise([BGPRoute(**{**r, "communities": tuple(r.get("communities", ()))})
                           for r in request["advertise"]])
        elif "status" in request:
            status = bgp.status()
            proc = bgp._proc  # noqa: SLF001 - the test checks the child dies with us
            answer = {"sessions": dict(status.sessions), "announced": status.announced,
                      "pid": None if proc is None else proc.pid}
        elif "close" in request:
            bgp.close()
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
