"""Doctor's report: findings per check, the verdict, and its machine-readable forms.

A check (stable ID such as ``svc.pending``) produces one or more :class:`Finding`, each with a
severity (``pass``, ``info``, ``warning``, ``error``, ``skip``), a one-line message, a hint and
the objects involved.  A :class:`Report` holds every :class:`CheckResult` and decides the
verdict: it fails when a finding is at or above ``fail_on`` (``warning`` or ``error``).  The
verdict, and with it lbctl's exit code, never depends on the output format.

:func:`to_document` is the ``-o json``/``-o yaml`` shape (``apiVersion: lbctl.io/v1``, ``kind:
DoctorReport``; documented in docs/doctor.md and versioned: fields are only ever added) and
:func:`to_junit` the JUnit XML that GitLab, Jenkins and GitHub test reporters read.  Pure: no
I/O, nothing printed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["pass", "info", "warning", "error", "skip"]
FailOn = Literal["warning", "error"]

API_VERSION = "lbctl.io/v1"
KIND = "DoctorReport"
#: Worst last: a check's status is the most severe of its findings.
SEVERITIES: tuple[Severity, ...] = ("skip", "pass", "info", "warning", "error")
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    message: str
    hint: str = ""
    objects: tuple[str, ...] = ()  # "service/web/frontend", "pool/default", "node/worker-1"


@dataclass(frozen=True)
class CheckResult:
    id: str  # "svc.pending"
    title: str  # what the check verifies, one line
    findings: tuple[Finding, ...]

    @property
    def group(self) -> str:
        return self.id.partition(".")[0]

    @property
    def status(self) -> Severity:
        return max((f.severity for f in self.findings), key=_RANK.__getitem__, default="pass")


def at_least(severity: Severity, threshold: FailOn) -> bool:
    return _RANK[severity] >= _RANK[threshold]


@dataclass(frozen=True)
class Report:
    mode: str  # "live" or "offline"
    source: str  # what was examined, for a person
    results: tuple[CheckResult, ...]
    fail_on: FailOn = "error"

    def failing(self, finding: Finding) -> bool:
        return at_least(finding.severity, self.fail_on)

    @property
    def failed(self) -> bool:
        """The answer is "no": some finding is at or above ``fail_on`` (exit code 1)."""
        return any(self.failing(f) for r in self.results for f in r.findings)

    def counts(self) -> dict[Severity, int]:
        """How many checks ended in each status."""
        counts: dict[Severity, int] = {severity: 0 for severity in reversed(SEVERITIES)}
        for result in self.results:
            counts[result.status] += 1
        return counts


# --------------------------------------------------------------------------- JSON / YAML


def to_document(report: Report) -> dict[str, Any]:
    """The versioned report document (docs/doctor.md, "JSON report")."""
    counts = report.counts()
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "mode": report.mode,
        "source": report.source,
        "failOn": report.fail_on,
        "summary": {
            "result": "fail" if report.failed else "pass",
            "checks": len(report.results),
            **{severity: counts[severity] for severity in counts},
        },
        "checks": [
            {
                "id": result.id,
                "group": result.group,
                "title": result.title,
                "status": result.status,
                "findings": [
                    {"severity": f.severity, "message": f.message, "hint": f.hint,
                     "objects": list(f.objects)}
                    for f in result.findings
                ],
            }
            for result in report.results
        ],
    }


# --------------------------------------------------------------------------- JUnit


def _text(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{f.severity.upper()}: {f.message}")
        if f.hint:
            lines.append(f"  hint: {f.hint}")
        if f.objects:
            lines.append(f"  objects: {', '.join(f.objects)}")
    return "\n".join(lines)


def to_junit(report: Report) -> str:
    """JUnit XML: ``testsuites`` > one ``testsuite`` per group > one ``testcase`` per check.

    A check with a finding at or above ``fail_on`` has a ``failure`` (so the test reporter and
    the exit code agree); a skipped check has ``skipped``; every other finding (an info, a
    warning below ``fail_on``) is in the test case's ``system-out``.  ``errors`` is always 0:
    doctor's own failures end the run instead of becoming test cases.
    """
    root = ET.Element("testsuites", name="lbctl doctor")
    groups: dict[str, list[CheckResult]] = {}
    for result in report.results:
        groups.setdefault(result.group, []).append(result)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for group, results in groups.items():
        suite = ET.SubElement(root, "testsuite", name=f"lbctl.doctor.{group}")
        counts = {"tests": len(results), "failures": 0, "errors": 0, "skipped": 0}
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=f"lbctl.doctor.{group}",
                                 name=result.id)
            failing = [f for f in result.findings if report.failing(f)]
            if failing:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=failing[0].message,
                                        type=failing[0].severity)
                failure.text = _text(failing)
            elif result.status == "skip":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=result.findings[0].message)
            rest = [f for f in result.findings if f not in failing and f.severity != "skip"]
            if rest:
                ET.SubElement(case, "system-out").text = _text(rest)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
