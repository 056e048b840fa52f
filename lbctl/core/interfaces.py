"""Network interface names, as a pool's ``interfaces`` holds them.

A pool may name the interfaces its addresses are answered on (ARP/NDP, gratuitous frames):
MetalLB's ``L2Advertisement.interfaces``; which node may then own an address is
:mod:`lbctl.core.ownership`'s rule.  This module owns what a name may be (:func:`name_problem`):
what Linux accepts (the kernel's ``dev_valid_name``: 1 to 15 bytes, not ``.`` or ``..``, no
``/``, ``:`` or whitespace) and, stricter, no control character, since names are printed to
terminals.

Pure: no I/O.  Nothing raises here; callers turn a problem into their own error.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Linux's IFNAMSIZ is 16 bytes, the terminating NUL included.
MAX_LENGTH = 15


def name_problem(name: object) -> str:
    """Why ``name`` cannot be a Linux interface name, or ``""`` when it can."""
    if not isinstance(name, str) or not name:
        return f"{name!r} is not an interface name"
    if len(name.encode()) > MAX_LENGTH:
        return f"interface name {name!r} is longer than {MAX_LENGTH} bytes"
    if name in (".", ".."):
        return f"{name!r} is not an interface name"
    for char in name:
        if char in "/:" or char.isspace():
            return f"interface name {name!r} holds {char!r} (Linux refuses '/', ':' and " \
                   "whitespace)"
        if not char.isprintable():
            return f"interface name {name!r} holds a control character"
    return ""


def problems(names: Iterable[object], where: str) -> list[str]:
    """Every bad name of a list, each as ``<where>: <problem>``."""
    return [f"{where}: {found}" for found in map(name_problem, names) if found]

