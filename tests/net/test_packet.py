"""Sending frames: a full transmit queue is waited out, every other socket failure becomes an
lbctl error with a fix (no OSError leaks)."""

from __future__ import annotations

import errno

import pytest

from lbctl.errors import LbctlError, NotFoundError, PermissionDeniedError, RefusedError
from lbctl.net.packet import send_frames


class FlakySend:
    """A ``send`` that fails with ``errno_`` ``failures`` times, then works."""

    def __init__(self, errno_: int, failures: int) -> None:
        self.errno = errno_
        self.failures = failures
        self.sent: list[bytes] = []

    def __call__(self, frame: bytes) -> int:
        if self.failures:
            self.failures -= 1
            raise OSError(self.errno, "injected")
        self.sent.append(frame)
        return len(frame)


def test_a_full_queue_is_waited_out_and_nothing_is_lost() -> None:
    send = FlakySend(errno.ENOBUFS, failures=5)
    send_frames(send, [b"a", b"b", b"c"], "lan0")
    assert send.sent == [b"a", b"b", b"c"]


def test_a_queue_that_stays_full_is_refused() -> None:
    send = FlakySend(errno.ENOBUFS, failures=10**6)
    with pytest.raises(RefusedError) as caught:
        send_frames(send, [b"a"], "lan0", patience=0.01)
    assert caught.value.message == (
        "the transmit queue of lan0 stayed full for 0.01 s after 0 frames")


@pytest.mark.parametrize(("errno_", "ifname", "error", "message"), [
    (errno.ENETDOWN, "lo", RefusedError, "interface lo went down while sending"),
    # deleting a link takes it down first: a send in between sees ENETDOWN, the name is gone
    (errno.ENETDOWN, "lbctl-gone0", NotFoundError,
     "interface lbctl-gone0 disappeared while sending"),
    (errno.ENXIO, "lan0", NotFoundError, "interface lan0 disappeared while sending"),
    (errno.EPERM, "lan0", PermissionDeniedError,
     "sending raw ARP/NDP frames needs the CAP_NET_RAW capability"),
    (errno.EMSGSIZE, "lan0", RefusedError, "a frame is larger than the MTU of lan0"),
    (errno.ENOMEM, "lan0", RefusedError, "sending on lan0 failed: injected"),
])
def test_socket_errors_become_lbctl_errors(errno_: int, ifname: str, error: type[LbctlError],
                                           message: str) -> None:
    with pytest.raises(error) as caught:
        send_frames(FlakySend(errno_, failures=1), [b"a"], ifname)
    assert caught.value.message == message
    assert caught.value.hint


def test_a_socket_error_without_a_fix_of_its_own_sends_to_the_traceback() -> None:
    """ENOMEM and the like: nothing lbctl can name; --debug shows the errno and where."""
    with pytest.raises(RefusedError) as caught:
        send_frames(FlakySend(errno.ENOMEM, failures=1), [b"a"], "lan0")
    assert caught.value.hint == "run with --debug for details"
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ENOMEM
