"""Hostile ``--state`` paths, for every command that reads or writes the state file.

A path that is not a regular file (a directory, a FIFO, a device behind a link, a link loop, a
path through a file), an unreadable or non-text file, an empty ``--state`` (an unset shell
variable): refused before anything is read or written.  For commands that write: a missing
directory, a planted lock-file link, a lock that is a directory, an unwritable directory.
Every case also proves that no lock or temporary file was left behind, and that nothing was
written to the cluster when one is configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tests.hostile.harness import Case, Dir, Fifo, File, FileSpec, Link, cases_test

STATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: lbctl-state
  namespace: kube-system
data:
  state.yaml: |
    schemaVersion: 1
    pools:
      web:
        addresses: [10.0.0.0/29]
        autoAssign: true
        avoidBuggyIPs: false
      spare:
        addresses: [10.0.1.0/29]
        autoAssign: true
        avoidBuggyIPs: false
    allocations:
      default:
        a: {ips: [10.0.0.0], pool: web}
    holds: {}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: b
spec:
  type: LoadBalancer
"""

#: Commands that only read the state.
READERS: dict[str, Sequence[str]] = {
    "pool-list": ["pool", "list"],
    "pool-show": ["pool", "show", "web"],
    "pool-export": ["pool", "export", "--format", "metallb"],
    "doctor": ["doctor"],
}
#: Commands that change it (each would succeed on ``STATE``).
WRITERS: dict[str, Sequence[str]] = {
    "pool-add": ["pool", "add", "new", "10.0.2.0/29"],
    "pool-remove": ["pool", "remove", "spare"],
    "pool-reserve": ["pool", "reserve", "web", "10.0.0.3"],
    "release": ["release", "svc", "a"],
    "assign-f": ["assign", "-f", "{tmp}/svc.yaml"],
}


@dataclass(frozen=True)
class Hazard:
    """A bad state path: the files that make it, the ``--state`` to give, what must be said."""

    name: str
    code: int
    error: str
    hint: str = ""
    files: Mapping[str, FileSpec] = field(default_factory=dict)
    path: str = "{state}"
    unprivileged: bool = False
    #: Only these commands (all when empty).
    only: Sequence[str] = ()
    kube: bool = False


READ_HAZARDS = [
    Hazard("directory", 2, "lb.yaml is a directory, not a regular file",
           "give the path of a regular file", files={"lb.yaml": Dir()}),
    Hazard("fifo", 2, "lb.yaml is a named pipe, not a regular file", files={"lb.yaml": Fifo()}),
    Hazard("link-to-dev-zero", 2,
           "lb.yaml (a link to /dev/zero) is a character device, not a regular file",
           files={"lb.yaml": Link("/dev/zero")}),
    Hazard("link-to-dev-null", 2,
           "lb.yaml (a link to /dev/null) is a character device, not a regular file",
           files={"lb.yaml": Link("/dev/null")}),
    Hazard("link-loop", 2, "Too many levels of symbolic links",
           files={"lb.yaml": Link("{tmp}/loop.yaml"), "loop.yaml": Link("{tmp}/lb.yaml")}),
    Hazard("parent-is-a-file", 2, "cannot read state file", "regular file",
           files={"parent": "text\n"}, path="{tmp}/parent/lb.yaml"),
    Hazard("not-utf8", 4, "lb.yaml is not UTF-8 text", "right file",
           files={"lb.yaml": b"\xff\xfe\x00binary\n"}),
    Hazard("unreadable", 6, "cannot read state file", "check the file's permissions",
           files={"lb.yaml": File(STATE, mode=0o000)}, unprivileged=True),
    Hazard("empty-path", 2, "--state is empty", "is a shell variable unset?", path="",
           files={"lb.yaml": STATE}, kube=True),
    Hazard("blank-path", 2, "--state is empty", path="  ", files={"lb.yaml": STATE}, kube=True),
]

WRITE_HAZARDS = [
    Hazard("missing-directory", 3, "directory of state file", "create the directory",
           path="{tmp}/nowhere/lb.yaml", only=("pool-add",)),
    Hazard("lock-is-a-link", 4, "lb.yaml.lock is a symbolic link", "remove it",
           files={"lb.yaml": STATE, "lb.yaml.lock": Link("{tmp}/planted")}),
    Hazard("lock-is-a-directory", 2, "lock file", "regular file",
           files={"lb.yaml": STATE, "lb.yaml.lock": Dir()}),
    Hazard("directory-not-writable", 6, "cannot write state file", "permissions",
           files={"lb.yaml": STATE, "lb.yaml.lock": File(mode=0o444), "sub": Dir()},
           unprivileged=True),
]


def case(hazard: Hazard, command: str, argv: Sequence[str]) -> Case:
    files = {"svc.yaml": SERVICE, **hazard.files}
    return Case(
        f"{hazard.name}-{command}",
        [*argv, "--state", hazard.path],
        code=hazard.code,
        error=hazard.error,
        hint=hazard.hint,
        files=files,
        unprivileged=hazard.unprivileged,
        kube=hazard.kube,
    )


def _unwritable(c: Case) -> Case:
    """The directory of the state is read-only: a 0555 subdirectory holds the files."""
    if not c.id.startswith("directory-not-writable"):
        return c
    files = {f"ro/{name}": spec for name, spec in c.files.items() if name != "sub"}
    files["ro"] = Dir(0o555)
    argv = [a.replace("{state}", "{tmp}/ro/lb.yaml").replace("{tmp}/svc.yaml",
                                                            "{tmp}/ro/svc.yaml")
            for a in c.argv]
    return Case(c.id, argv, code=c.code, error=c.error, hint=c.hint, files=files,
                unprivileged=c.unprivileged)


#: doctor reports these as findings (state.parse FAIL, or SKIP when it may not read), not errors.
REPORTED_BY_DOCTOR = {("not-utf8", "doctor"), ("unreadable", "doctor")}
CASES = [case(h, name, argv) for h in READ_HAZARDS for name, argv in {**READERS, **WRITERS}.items()
         if (h.name, name) not in REPORTED_BY_DOCTOR]
CASES += [_unwritable(case(h, name, argv)) for h in WRITE_HAZARDS for name, argv in WRITERS.items()
          if not h.only or name in h.only]

test_state_paths = cases_test("state paths", CASES)
