"""docs/doctor.md and examples/README.md describe the checks that exist, and the JSON shape
doctor prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lbctl.cli.inputs import read_sources
from lbctl.doctor import checks, gather
from lbctl.doctor.report import Report, to_document
from tests.doctor.clusters import EXAMPLES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "doctor.md"
_ID = re.compile(r"`((?:state|pool|svc|kube-proxy|impl|bgp|rbac|net|controller)\.[a-z-]+)`")


def test_the_docs_explain_every_check_and_no_other() -> None:
    documented = set(_ID.findall(DOCS.read_text()))
    assert documented == set(checks.IDS)


def test_the_examples_readme_names_only_real_checks() -> None:
    named = set(_ID.findall((EXAMPLES / "README.md").read_text()))
    assert named == set(checks.IDS)


def test_the_documented_json_report_has_the_printed_shape(
        monkeypatch: pytest.MonkeyPatch) -> None:
    block = DOCS.read_text().split("### JSON report")[1].split("```json\n")[1].split("```")[0]
    documented = json.loads(block)
    monkeypatch.chdir(EXAMPLES.parent)  # the files named as the documented run named them
    facts = gather.offline(read_sources(["examples/broken"]))
    printed = to_document(Report(facts.mode, facts.source, checks.diagnose(facts)))
    assert documented["summary"] == printed["summary"]
    assert set(documented) == set(printed)
    check = next(c for c in printed["checks"] if c["id"] == documented["checks"][0]["id"])
    assert documented["checks"][0] == check
