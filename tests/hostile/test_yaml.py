"""Hostile and wrong YAML, for every command that reads YAML: the state (bare and in its
ConfigMap manifest), ``assign -f``, ``doctor -f``, ``kube-proxy diff -f`` and ``pool import -f``.

Alias bombs, deep nesting, oversized and endless inputs (``/dev/zero``, a FIFO, stdin that never
ends), keys that read the same, tags lbctl does not read, scalars that cannot be read as their
type, broken syntax and documents that are not Kubernetes objects: each refused within the time
bound with one error line naming the file, line and column, and a hint; nothing written.  The
wrong-typed state cases prove the document is refused (exit 4) rather than converted and
written back.
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.hostile.harness import Case, Fifo, File, cases_test

STATE = """\
schemaVersion: 1
pools:
  web:
    addresses: [10.0.0.0/29]
    autoAssign: true
    avoidBuggyIPs: false
    reservations: {10.0.0.1: gw}
allocations:
  default:
    a: {ips: [10.0.0.2], pool: web}
holds: {}
"""

BOMB = "".join(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9 if i else ['"lol"'] * 9) + "]\n"
               for i in range(9))
DEEP = "x: " + "[" * 150 + "]" * 150 + "\n"
VERY_DEEP = "[" * 100_000 + "]" * 100_000 + "\n"
DEEP_BLOCK = "".join(" " * i + "k:\n" for i in range(150))
SERVICE = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n"
           "spec:\n  type: LoadBalancer\n")

#: (id, text, words of the error, words of the hint) for any manifest reader.
PAYLOADS: Sequence[tuple[str, str | bytes, str, str]] = [
    ("alias-bomb", BOMB, ":6:10: aliases expand to more than 100000 nodes", "fix the"),
    ("alias-bomb-in-a-service", SERVICE + "  ports: &p [{port: 1}, {port: 2}]\n" + "".join(
        f"  x{i}: &x{i} [" + ",".join([f"*x{i - 1}" if i else "*p"] * 10) + "]\n"
        for i in range(7)), "aliases expand to more than 100000 nodes", "fix the"),
    ("nesting-150-deep", DEEP, ":1:103: collections nested more than 100 deep", "fix the"),
    ("nesting-100000-deep", VERY_DEEP, "exceeded maximum nesting depth", "fix the"),
    ("block-nesting-150-deep", DEEP_BLOCK, ":101:101: collections nested more than 100 deep",
     "fix the"),
    ("recursive-alias", "&a [*a]\n", ":1:5: the alias *a refers to the collection that holds it",
     "fix the"),
    ("undefined-alias", SERVICE + "  ports: *nope\n", "the alias *nope refers to no anchor",
     "fix the"),
    ("duplicate-key", SERVICE + "  type: ClusterIP\n", ":8:3: the key 'type' is given twice",
     "fix the"),
    ("int-and-text-keys", "1: a\n'1': b\n", ":2:1: the key '1' is given twice", "fix the"),
    ("null-and-None-keys", "null: a\n'None': b\n", "the key 'None' is given twice", "fix the"),
    ("yes-and-true-keys", "yes: a\ntrue: b\n", "the key 'True' is given twice", "fix the"),
    ("binary-tag", SERVICE.replace("name: web", "name: !!binary aGVsbG8="),
     ":4:9: the tag !!binary is not read by lbctl", "fix the"),
    ("python-tag", "a: !!python/object/apply:os.system [echo owned]\n",
     "the tag !!python/object/apply:os.system is not read", "fix the"),
    ("set-tag", "a: !!set {x, y}\n", "the tag !!set is not read", "fix the"),
    ("custom-tag", "a: !Ref thing\n", "the tag !Ref is not read", "fix the"),
    ("complex-key", "? [a, b]\n: c\n", ":1:3: a mapping key that is a collection", "fix the"),
    ("huge-integer", "a: " + "9" * 5000 + "\n", "cannot be read as an integer", "fix the"),
    ("month-13", "a: 2024-13-01\n", "'2024-13-01' cannot be read as a timestamp", "fix the"),
    ("nul-character", "a: b\x00c\n", ":1:5: not valid YAML: character 0x0000", "fix the"),
    ("unclosed-flow", "a: [1, 2\n", ":2:1: not valid YAML: did not find expected ','", "fix the"),
    ("tab-indentation", "a:\n\tb: 1\n", ":2:1: not valid YAML", "fix the"),
    ("not-utf8", b"a: \xff\xfe\n", "is not UTF-8 text (byte 3)", "YAML or JSON"),
]

#: Documents that are not Kubernetes objects: the same words from every manifest reader.
NOT_OBJECTS: Sequence[tuple[str, str, str]] = [
    ("scalar-document", "just some text\n",
     ":1:1: document 1 is a string, not a Kubernetes object"),
    ("list-document", "- a\n- b\n", ":1:1: document 1 is a list, not a Kubernetes object"),
    ("service-without-apiversion", SERVICE.replace("apiVersion: v1\n", ""),
     ":1:1: document 1 is not a Kubernetes object: it has no apiVersion"),
    ("service-lowercase-type", SERVICE.replace("LoadBalancer", "loadbalancer"),
     ":7:9: document 1 is a Service of spec.type 'loadbalancer', which Kubernetes does not "
     "know"),
    ("list-item-without-kind", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n"
     "  metadata: {name: x}\n", ":4:3: item 1 of document 1 (List) is not a Kubernetes "
     "object: it has no kind"),
]

#: The manifest readers: (id, argv with {f} for the file).
READERS: Sequence[tuple[str, Sequence[str]]] = [
    ("assign", ["assign", "-f", "{f}", "--state", "{state}"]),
    ("doctor", ["doctor", "-f", "{f}"]),
    ("kube-proxy", ["kube-proxy", "diff", "-f", "{f}"]),
    ("import", ["pool", "import", "metallb", "-f", "{f}", "--state", "{state}"]),
]


def _argv(argv: Sequence[str], path: str) -> list[str]:
    return [path if word == "{f}" else word for word in argv]


def _manifest_cases() -> list[Case]:
    cases = []
    for reader, argv in READERS:
        for name, text, error, hint in PAYLOADS:
            if reader == "kube-proxy" and hint == "fix the":
                hint = "fix the YAML"
            cases.append(Case(f"{reader}-{name}", _argv(argv, "{tmp}/m.yaml"), code=2,
                              error=error, hint=hint, files={"m.yaml": File(text)}, state=STATE,
                              timeout=15))
        if reader == "kube-proxy":
            continue
        for name, text, error in NOT_OBJECTS:
            cases.append(Case(f"{reader}-{name}", _argv(argv, "{tmp}/m.yaml"), code=2,
                              error=error, hint="as kubectl apply requires",
                              files={"m.yaml": File(text)}, state=STATE))
    return cases


def _endless_cases() -> list[Case]:
    cases = []
    for reader, argv in READERS:
        cases += [
            Case(f"{reader}-dev-zero", _argv(argv, "/dev/zero"), code=2,
                 error="/dev/zero is a character device", hint="regular files", state=STATE),
            Case(f"{reader}-fifo", _argv(argv, "{tmp}/pipe.yaml"), code=2,
                 error="pipe.yaml is a named pipe", hint="regular files",
                 files={"pipe.yaml": Fifo()}, state=STATE),
            Case(f"{reader}-stdin-dev-zero", _argv(argv, "-"), code=2,
                 error="stdin is longer than 33554432 bytes", hint="split", state=STATE,
                 stdin_path="/dev/zero", timeout=20),
            Case(f"{reader}-stdin-alias-bomb", _argv(argv, "-"), code=2,
                 error="stdin:6:10: aliases expand", hint="fix the", state=STATE, stdin=BOMB),
        ]
    return cases


def _state_cases() -> list[Case]:
    """A hostile or wrong state document: every reader and writer refuses it (exit 4) and
    leaves its bytes alone."""
    wrong = [
        ("alias-bomb", STATE + BOMB.replace("l0:", "x0:"), "aliases expand to more than"),
        ("nesting-150-deep", STATE + DEEP.replace("x:", "deep:"), "nested more than 100 deep"),
        ("number-pool-name", STATE.replace("  web:", "  7:").replace("pool: web", "pool: '7'"),
         "pools: the key 7 must be a string (quote it) (line 3, column 3)"),
        ("pools-1-and-quoted-1", STATE.replace("allocations:", "  1: {addresses: [10.0.1.0/29]}\n"
                                               "  '1': {addresses: [10.0.2.0/29]}\n"
                                               "allocations:"),
         ":9:3: the key '1' is given twice in one mapping"),
        ("namespaces-null-and-None", STATE.replace("holds: {}", "  null: {b: {ips: [10.0.0.3], "
                                                   "pool: web}}\n  'None': {}\nholds: {}"),
         "the key 'None' is given twice"),
        ("list-note", STATE.replace("10.0.0.1: gw", "10.0.0.1: [gw, router]"),
         "the note of 10.0.0.1 must be a string, not ['gw', 'router'] (line 7, column 30)"),
        ("binary-note", STATE.replace("10.0.0.1: gw", "10.0.0.1: !!binary aGVsbG8="),
         ":7:30: the tag !!binary is not read"),
        ("mapping-sharing-key", STATE.replace("pool: web}", "pool: web, sharingKey: {k: v}, "
                                              "ports: [TCP/80]}"),
         "sharingKey must be a string, not {'k': 'v'}"),
        ("date-note", STATE.replace("10.0.0.1: gw", "10.0.0.1: 2024-01-01"),
         "the note of 10.0.0.1 must be a string, not datetime.date(2024, 1, 1)"),
        ("boolean-service-name", STATE.replace("    a: {", "    yes: {"),
         "the key True must be a string (quote it)"),
        ("duplicate-allocation", STATE.replace("holds:", "    a: {ips: [10.0.0.3], pool: web}\n"
                                               "holds:"), "the key 'a' is given twice"),
        ("huge-priority", STATE.replace("autoAssign: true", "autoAssign: true\n    priority: "
                                        + "9" * 5000), "cannot be read as an integer"),
        ("two-documents", STATE + "---\n" + STATE, "a second document; one is expected here"),
    ]
    wrapped = {"alias-bomb": "aliases expand to more than",
               "list-note": "the note of 10.0.0.1 must be a string",
               "pools-1-and-quoted-1": "the key '1' is given twice in one mapping"}
    commands = [("pool-list", ["pool", "list", "--state", "{state}"]),
                ("pool-add", ["pool", "add", "new", "10.0.9.0/29", "--state", "{state}"])]
    cases = []
    for name, text, error in wrong:
        for command, argv in commands:
            cases.append(Case(f"state-{name}-{command}", argv, code=4, error=error,
                              hint="lbctl will not overwrite", state=text, timeout=15))
        if name in wrapped:
            body = "".join("    " + line + "\n" for line in text.splitlines())
            manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lbctl-state\n"
                        "  namespace: kube-system\ndata:\n  state.yaml: |\n" + body)
            cases.append(Case(f"state-configmap-{name}", ["pool", "list", "--state", "{state}"],
                              code=4, error=wrapped[name],
                              hint="lbctl will not overwrite", state=manifest, timeout=15))
    return cases


def _oversized() -> list[Case]:
    big = "# " + "x" * 1022 + "\n"
    text = SERVICE + big * (33 * 1024)
    return [Case("assign-oversized-file", ["assign", "-f", "{tmp}/big.yaml", "--state", "{state}"],
                 code=2, error="big.yaml is longer than 33554432 bytes", hint="split",
                 files={"big.yaml": File(text)}, state=STATE, timeout=20)]


CASES = _manifest_cases() + _endless_cases() + _state_cases() + _oversized()

test_yaml = cases_test("yaml", CASES)
