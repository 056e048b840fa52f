"""Hostile command-line arguments: malformed addresses, unknown names, flags that do not exist
or do not go together.  Each is a usage error (2) or a not-found (3), with the state untouched."""

from __future__ import annotations

from tests.hostile.harness import Case, cases_test

STATE = (
    "schemaVersion: 1\n"
    "pools:\n"
    "  web:\n"
    "    addresses: [192.168.1.30-192.168.1.49]\n"
)


def offline(id: str, *argv: str, code: int, error: str, hint: str = "") -> Case:
    """A case on the file state ``STATE``."""
    return Case(id, [*argv, "--state", "{state}"], code=code, error=error, hint=hint, state=STATE)


CASES = [
    offline("pool-add-cidr-prefix-too-long", "pool", "add", "a", "10.0.0.0/33",
            code=2, error="'10.0.0.0/33' is not a valid CIDR", hint="192.0.2.0/24"),
    offline("pool-add-not-an-address", "pool", "add", "a", "nonsense",
            code=2, error="'nonsense' is not an IP address"),
    offline("pool-add-ipv6-prefix-too-long", "pool", "add", "a", "2001:db8::/129",
            code=2, error="is not a valid CIDR"),
    offline("pool-add-no-addresses", "pool", "add", "a",
            code=2, error="Missing argument", hint="lbctl pool add --help"),
    offline("pool-show-unknown", "pool", "show", "nope",
            code=3, error="pool nope not found (pools: web)", hint="pool list shows the pools"),
    offline("pool-remove-unknown", "pool", "remove", "nope",
            code=3, error="pool nope not found"),
    offline("pool-remove-no-name", "pool", "remove",
            code=2, error="Missing argument 'NAME'"),
    offline("output-unknown-format", "pool", "list", "-o", "bogus",
            code=2, error="'bogus' is not one of"),
    offline("unknown-flag", "pool", "list", "--frobnicate",
            code=2, error="No such option: --frobnicate"),
    offline("unknown-command", "pool", "frobnicate",
            code=2, error="No such command 'frobnicate'"),
    offline("pool-export-no-format", "pool", "export",
            code=2, error="Missing option '--format'. Choose from: metallb, kube-vip"),
    offline("pool-name-with-newline", "pool", "show", "we\nb",
            code=3, error="pool we b not found"),
]

test_arguments = cases_test("arguments", CASES)
