"""Read this machine's ARP sysctls: ``<proc>/sys/net/ipv4/conf/<if>/arp_ignore|arp_announce``.

kube-proxy's ``strictARP`` sets ``conf/all/arp_ignore=1`` and ``conf/all/arp_announce=2`` and never
sets them back, so the live values can disagree with its configuration; ``lbctl kube-proxy
check-node`` judges them with :func:`lbctl.core.kubeproxy.evaluate_arp`.  This module only reads
the files and returns plain data (``{"all": {"arp_ignore": 1, "arp_announce": 2}, "eth0": ...}``);
it never writes a sysctl.  ``proc_root`` is where procfs is mounted (tests use a directory tree).

The values are those of the network namespace of the process that reads them: run on the node
itself or in a pod with ``hostNetwork: true``.

Error policy: a missing tree is :class:`~lbctl.errors.NotFoundError`, an unreadable one
:class:`~lbctl.errors.PermissionDeniedError`, a value that is not a number
:class:`~lbctl.errors.UsageError`.  An interface that disappears while being read (a pod's veth
going away) is skipped.
"""

from __future__ import annotations

from pathlib import Path

from lbctl.errors import NotFoundError, PermissionDeniedError, UsageError

CONF = Path("sys/net/ipv4/conf")
_WHERE = ("check-node reads the kernel of a Linux node: run it there, or in a pod with "
          "hostNetwork: true (kubectl debug node/NAME)")
KEYS = ("arp_ignore", "arp_announce")


def read_arp_sysctls(proc_root: Path = Path("/proc")) -> dict[str, dict[str, int]]:
    """``arp_ignore`` and ``arp_announce`` of ``all``, ``default`` and every interface."""
    conf = proc_root / CONF
    try:
        directories = sorted(p for p in conf.iterdir() if p.is_dir())
    except FileNotFoundError:
        raise NotFoundError(f"{conf} does not exist", hint=_WHERE) from None
    except PermissionError as exc:
        raise PermissionDeniedError(f"cannot read {conf}: {exc.strerror}", hint=_WHERE) from exc
    values: dict[str, dict[str, int]] = {}
    for directory in directories:
        try:
            values[directory.name] = {key: _read(directory / key) for key in KEYS}
        except FileNotFoundError:
            if directory.name == "all":
                raise NotFoundError(f"{directory} has no {' or '.join(KEYS)}",
                                    hint=_WHERE) from None
    if "all" not in values:
        raise NotFoundError(f"{conf / 'all'} does not exist", hint=_WHERE)
    return values


def _read(path: Path) -> int:
    try:
        text = path.read_text()
    except PermissionError as exc:
        raise PermissionDeniedError(f"cannot read {path}: {exc.strerror}", hint=_WHERE) from exc
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(f"{path} holds {text.strip()!r}, not a number",
                         hint="the kernel writes a number there: is --proc-root procfs, or a "
                              "copy of its sys/net/ipv4/conf?") from None
