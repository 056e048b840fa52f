"""When two Services may hold one address, and the reason given when they may not."""

from __future__ import annotations

import pytest

from lbctl.core.sharing import conflict
from lbctl.core.state import Allocation

BACKEND = (
    "they have different backends (externalTrafficPolicy Local needs the same pod selector on "
    "both, and Local and Cluster never share)"
)


def svc(name: str, key: str = "k", ports: tuple[str, ...] = ("TCP/80",),
        backend: str = "") -> Allocation:
    return Allocation("web", name, ("192.0.2.1",), "default", key, ports, backend)


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        pytest.param(svc("a"), svc("b", ports=("TCP/443",)), "", id="same-key-other-port"),
        pytest.param(svc("a"), svc("b", ports=("UDP/80",)), "", id="tcp-and-udp-same-port"),
        pytest.param(svc("a", ports=("TCP/80", "UDP/53")), svc("b", ports=("TCP/53", "UDP/80")),
                     "", id="crossed-protocols"),
        pytest.param(svc("a"), svc("b"), "both use TCP/80", id="same-port"),
        pytest.param(svc("a", ports=("TCP/80", "TCP/443", "UDP/1")),
                     svc("b", ports=("TCP/443", "TCP/80")), "both use TCP/443, TCP/80",
                     id="several-ports"),
        pytest.param(svc("a", key="x"), svc("b", key="y", ports=("TCP/443",)),
                     "sharing keys differ ('x' on web/a, 'y' on web/b)", id="different-keys"),
        pytest.param(svc("a", key=""), svc("b", ports=("TCP/443",)), "web/a has no sharing key",
                     id="first-unkeyed"),
        pytest.param(svc("a"), svc("b", key="", ports=("TCP/443",)), "web/b has no sharing key",
                     id="second-unkeyed"),
        pytest.param(svc("a", backend="app=web"), svc("b", ports=("TCP/443",)), BACKEND,
                     id="local-and-cluster"),
        pytest.param(svc("a", backend="app=web"),
                     svc("b", ports=("TCP/443",), backend="app=api"), BACKEND,
                     id="local-other-selector"),
        pytest.param(svc("a", backend="app=web"),
                     svc("b", ports=("TCP/443",), backend="app=web"), "",
                     id="local-same-selector"),
    ],
)
def test_conflict(first: Allocation, second: Allocation, why: str) -> None:
    assert conflict(first, second) == why
    assert (conflict(second, first) == "") is (why == "")  # symmetric in its verdict
