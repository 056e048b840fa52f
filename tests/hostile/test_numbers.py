"""Hostile numbers for every number option: ``nan``, infinities, negatives, absurdly large
values, fractions where a whole number is needed, and words.  Each is refused by the parser
(exit 2, naming the option and the allowed range) before anything is read, sent or written.

Every ``arp`` case carries ``--dry-run`` and a pool that holds the address, so that even a
regression in the refusal could not put a frame on this machine's network.
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.hostile.harness import Case, cases_test

STATE = """\
schemaVersion: 1
pools:
  web:
    addresses: [192.0.2.0/29]
"""

#: option -> the command line it is given on (``{value}`` is replaced), its kind, its range.
OPTIONS: dict[str, tuple[Sequence[str], str, str]] = {
    "arp-announce-count": (
        ["arp", "announce", "192.0.2.1", "--dry-run", "--state", "{state}", "--count", "{value}"],
        "int", "(give 1 to 100)"),
    "arp-announce-interval": (
        ["arp", "announce", "192.0.2.1", "--dry-run", "--state", "{state}",
         "--interval", "{value}"],
        "float", "(give 0 to 60 seconds)"),
    "arp-probe-timeout": (
        ["arp", "probe", "192.0.2.1", "--dry-run", "--timeout", "{value}"],
        "float", "(give 0.01 to 60 seconds)"),
    "doctor-timeout": (
        ["doctor", "--state", "{state}", "--timeout", "{value}"],
        "float", "(give 0.01 to 60 seconds)"),
    "kube-proxy-apply-timeout": (
        ["kube-proxy", "apply", "--restart", "--timeout", "{value}"],
        "float", "(give 0 to 86400 seconds)"),
    "controller-lease-duration": (
        ["controller", "--lease-duration", "{value}"], "float", "(give 2 to 3600 seconds)"),
    "controller-resync": (
        ["controller", "--resync", "{value}"], "float", "(give 1 to 86400 seconds)"),
    "install-replicas": (
        ["install", "--replicas", "{value}"], "int", "(give 1 to 9)"),
    "speaker-lease-duration": (
        ["speaker", "--node", "n1", "--lease-duration", "{value}"],
        "int", "(give 2 to 3600 seconds)"),
    "pool-add-priority": (
        ["pool", "add", "extra", "192.0.2.64/29", "--state", "{state}", "--priority", "{value}"],
        "int", "(give 0 to 2147483647)"),
}

#: value -> what the refusal says, by kind (None: a good value for that kind).
VALUES: dict[str, tuple[str, dict[str, str | None]]] = {
    "nan": ("nan", {"float": "'nan' is not a finite number", "int": "'nan' is not a whole number"}),
    "uppercase-nan": ("NaN", {"float": "'NaN' is not a finite number",
                              "int": "'NaN' is not a whole number"}),
    "inf": ("inf", {"float": "'inf' is not a finite number", "int": "'inf' is not a whole number"}),
    "minus-infinity": ("-Infinity", {"float": "'-Infinity' is not a finite number",
                                     "int": "'-Infinity' is not a whole number"}),
    "overflow": ("1e400", {"float": "'1e400' is not a finite number",
                           "int": "'1e400' is not a whole number"}),
    "negative": ("-1", {"float": "-1 is out of range", "int": "-1 is out of range"}),
    "absurd": ("1e12", {"float": "1e12 is out of range", "int": "'1e12' is not a whole number"}),
    "huge-integer": ("99999999999999999999", {"float": "99999999999999999999 is out of range",
                                               "int": "99999999999999999999 is out of range"}),
    "word": ("soon", {"float": "'soon' is not a number", "int": "'soon' is not a whole number"}),
    "empty": ("", {"float": "'' is not a number", "int": "'' is not a whole number"}),
    "fraction": ("1.5", {"float": None, "int": "'1.5' is not a whole number"}),
}


def cases() -> list[Case]:
    found = []
    for option, (argv, kind, allowed) in OPTIONS.items():
        flag = argv[-2]
        shown = "'-c' / '--count'" if flag == "--count" else f"'{flag}'"
        for name, (value, says) in VALUES.items():
            error = says[kind]
            if error is None:
                continue
            found.append(Case(
                f"{option}-{name}",
                [a.replace("{value}", value) for a in argv],
                code=2,
                error=f"Invalid value for {shown}: {error} {allowed}",
                hint="--help",
                state=STATE,
                kube=option.startswith("kube-proxy"),
            ))
    return found


test_numbers = cases_test("numbers", cases())
