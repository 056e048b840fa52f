"""The report: verdict, the versioned JSON document, and JUnit XML that CI test reporters read."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lbctl.doctor.report import CheckResult, FailOn, Finding, Report, to_document, to_junit

RESULTS = (
    CheckResult("state.parse", "parses", (Finding("pass", "the document parses"),)),
    CheckResult("svc.pending", "nothing pending", (
        Finding("warning", "service web/a is pending", "lbctl assign svc a -n web",
                ("service/web/a",)),)),
    CheckResult("svc.drift", "no drift", (
        Finding("error", "service web/b: status shows 192.0.2.9", "record it",
                ("service/web/b",)),
        Finding("error", "service web/c: status shows 192.0.2.8"),
    )),
    CheckResult("impl.metallb", "no MetalLB", (Finding("info", "MetalLB is dormant", "remove"),)),
    CheckResult("net.probe", "one MAC each", (Finding("skip", "not asked for: add --probe"),)),
)


def report(fail_on: FailOn = "error") -> Report:
    return Report("offline", "5 files (examples/broken)", RESULTS, fail_on)


@pytest.mark.parametrize(("fail_on", "results", "failed"), [
    ("error", RESULTS, True),
    ("error", RESULTS[:2], False),
    ("warning", RESULTS[:2], True),
    ("warning", (RESULTS[0], RESULTS[3], RESULTS[4]), False),  # info and skip never fail
])
def test_verdict_follows_fail_on(fail_on: FailOn, results: tuple[CheckResult, ...],
                                 failed: bool) -> None:
    assert Report("live", "x", results, fail_on).failed is failed


def test_json_document_shape() -> None:
    assert to_document(report()) == {
        "apiVersion": "lbctl.io/v1",
        "kind": "DoctorReport",
        "mode": "offline",
        "source": "5 files (examples/broken)",
        "failOn": "error",
        "summary": {"result": "fail", "checks": 5, "error": 1, "warning": 1, "info": 1,
                    "pass": 1, "skip": 1},
        "checks": [
            {"id": "state.parse", "group": "state", "title": "parses", "status": "pass",
             "findings": [{"severity": "pass", "message": "the document parses", "hint": "",
                           "objects": []}]},
            {"id": "svc.pending", "group": "svc", "title": "nothing pending",
             "status": "warning",
             "findings": [{"severity": "warning", "message": "service web/a is pending",
                           "hint": "lbctl assign svc a -n web", "objects": ["service/web/a"]}]},
            {"id": "svc.drift", "group": "svc", "title": "no drift", "status": "error",
             "findings": [
                 {"severity": "error", "message": "service web/b: status shows 192.0.2.9",
                  "hint": "record it", "objects": ["service/web/b"]},
                 {"severity": "error", "message": "service web/c: status shows 192.0.2.8",
                  "hint": "", "objects": []}]},
            {"id": "impl.metallb", "group": "impl", "title": "no MetalLB", "status": "info",
             "findings": [{"severity": "info", "message": "MetalLB is dormant",
                           "hint": "remove", "objects": []}]},
            {"id": "net.probe", "group": "net", "title": "one MAC each", "status": "skip",
             "findings": [{"severity": "skip", "message": "not asked for: add --probe",
                           "hint": "", "objects": []}]},
        ],
    }


# --------------------------------------------------------------------------- JUnit

#: The common JUnit schema (Ant's junit.xsd as Jenkins, GitLab and GitHub reporters read it):
#: element -> (required attributes, optional attributes, allowed children).
SCHEMA: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors", "skipped", "disabled"},
                   {"testsuite"}),
    "testsuite": ({"name", "tests"}, {"failures", "errors", "skipped", "time", "timestamp",
                                      "hostname", "id", "package", "disabled", "file"},
                  {"properties", "testcase", "system-out", "system-err"}),
    "testcase": ({"name", "classname"}, {"time", "status", "assertions", "file", "line"},
                 {"skipped", "error", "failure", "system-out", "system-err"}),
    "failure": (set(), {"message", "type"}, set()),
    "skipped": (set(), {"message"}, set()),
    "system-out": (set(), set(), set()),
}
COUNTS = ("tests", "failures", "errors", "skipped")


def _conforms(element: ET.Element) -> None:
    required, optional, children = SCHEMA[element.tag]
    assert required <= set(element.attrib), (element.tag, element.attrib)
    assert set(element.attrib) <= required | optional, (element.tag, element.attrib)
    for key in set(COUNTS) & set(element.attrib):
        assert element.attrib[key].isdigit()
    for child in element:
        assert child.tag in children, (element.tag, child.tag)
        _conforms(child)
    if element.tag == "testcase":
        assert len([c for c in element if c.tag in ("failure", "skipped")]) <= 1


def test_junit_follows_the_common_schema_and_its_counts_add_up() -> None:
    root = ET.fromstring(to_junit(report()))
    _conforms(root)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == len([c for c in cases if c.find("failure")
                                                      is not None])
        assert int(suite.get("skipped", "")) == len([c for c in cases if c.find("skipped")
                                                     is not None])
        assert suite.get("errors") == "0"
    for key in COUNTS:
        assert int(root.get(key, "")) == sum(int(s.get(key, "")) for s in suites)
    assert [s.get("name") for s in suites] == ["lbctl.doctor.state", "lbctl.doctor.svc",
                                               "lbctl.doctor.impl", "lbctl.doctor.net"]
    assert [(c.get("classname"), c.get("name")) for c in root.iter("testcase")] == [
        ("lbctl.doctor.state", "state.parse"), ("lbctl.doctor.svc", "svc.pending"),
        ("lbctl.doctor.svc", "svc.drift"), ("lbctl.doctor.impl", "impl.metallb"),
        ("lbctl.doctor.net", "net.probe")]


def _case(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f".//testcase[@name='{name}']")
    assert found is not None
    return found


def test_junit_failures_are_what_makes_the_exit_code() -> None:
    root = ET.fromstring(to_junit(report("error")))
    drift = _case(root, "svc.drift").find("failure")
    assert drift is not None
    assert (drift.get("message"), drift.get("type")) == ("service web/b: status shows 192.0.2.9",
                                                         "error")
    assert drift.text == ("ERROR: service web/b: status shows 192.0.2.9\n  hint: record it\n"
                          "  objects: service/web/b\n"
                          "ERROR: service web/c: status shows 192.0.2.8")
    pending = _case(root, "svc.pending")
    assert pending.find("failure") is None
    assert pending.findtext("system-out", "").startswith("WARNING: service web/a is pending")
    skipped = _case(root, "net.probe").find("skipped")
    assert skipped is not None and skipped.get("message") == "not asked for: add --probe"
    assert root.get("failures") == "1"

    strict = ET.fromstring(to_junit(report("warning")))
    assert _case(strict, "svc.pending").find("failure") is not None
    assert strict.get("failures") == "2"


def test_junit_escapes_what_it_quotes() -> None:
    tricky = CheckResult("svc.drift", "t", (Finding("error", "<svc> & \"[fd00::1]\""),))
    root = ET.fromstring(to_junit(Report("live", "x", (tricky,))))
    assert _case(root, "svc.drift").find("failure").get("message") == (  # type: ignore[union-attr]
        "<svc> & \"[fd00::1]\"")
