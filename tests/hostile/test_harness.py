"""The harness itself: it must fail a case for each way a command can misbehave, and pass a
clean refusal.  (A harness that cannot fail proves nothing.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.harness import Case, Fifo, File, Link, Result, Runner, snapshot

ENTRY = "tests.hostile.entries:"


def entry_case(name: str, argv: list[str], **kwargs: object) -> Case:
    defaults: dict[str, object] = {"code": 2, "error": "", "category": "harness"}
    return Case(name, argv, entry=ENTRY + name, **{**defaults, **kwargs})  # type: ignore[arg-type]


def test_a_clean_refusal_passes(hostile: Runner) -> None:
    result = hostile.check(entry_case("refuse", ["bad input", "try again"], error="bad input",
                                      hint="try again", state="schemaVersion: 1\n"))
    assert result.err == "lbctl: error: bad input\nhint: try again\n"


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        (entry_case("hang", [], timeout=0.5), "hung: killed after 0.5s"),
        (entry_case("crash", [], code=98), "a traceback was printed"),
        (entry_case("write", ["{state}"], state="schemaVersion: 1\n"), "files changed"),
        (entry_case("write", ["{tmp}/new"]), "new: absent -> ('file'"),
        (entry_case("chatter", []), "unexpected stdout"),
        (entry_case("chatter", [], stdout=None), "not one error line and one hint line"),
        (entry_case("leak", ["s3cr3t"], secrets=["s3cr3t"]), "a secret was printed"),
        (entry_case("refuse", ["x"], code=4), "exit 2, expected 4"),
        (entry_case("refuse", ["x"], error="y"), "the error does not say 'y'"),
        (entry_case("refuse", ["x", "z"], hint="y"), "the hint does not say 'y'"),
        (entry_case("refuse", ["x" * 600]), "a line of 614 characters"),
    ],
    ids=lambda value: value.id + "-" + value.entry if isinstance(value, Case) else "",
)
def test_each_misbehaviour_fails_the_case(hostile: Runner, case: Case, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint.replace("(", r"\(")):
        hostile.check(case)


def test_a_changed_object_on_the_apiserver_fails_the_case(hostile: Runner) -> None:
    case = entry_case("create_configmap", ["{server}"], kube=True)
    with pytest.raises(AssertionError, match="the apiserver's objects changed"):
        hostile.check(case)


def test_placeholders_files_stdin_and_permissions(hostile: Runner) -> None:
    seen: list[Result] = []
    case = Case(
        "whoami", ["{tmp}/secret"], code=0, error=None, stdin="in {tmp}", stdout=None,
        entry=ENTRY + "whoami", unprivileged=True,
        files={"link": Link("{state}"), "pipe": Fifo(), "secret": File("x", mode=0)},
        check=lambda tmp, server, result: seen.append(result),
    )
    hostile.check(case)
    readable, text = seen[0].out.split(" ", 1)
    assert readable == "unreadable"
    assert text.startswith("in /") and text.strip().endswith("/case")


def test_snapshot_sees_types_modes_contents_and_links(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("1")
    (tmp_path / "l").symlink_to("a")
    os.mkfifo(tmp_path / "p")
    before = snapshot(tmp_path)
    assert set(before) == {"a", "l", "p"}
    (tmp_path / "a").write_text("2")
    assert snapshot(tmp_path)["a"] != before["a"]
    (tmp_path / "a").chmod(0o600)
    assert snapshot(tmp_path)["a"][1] == 0o600


def test_the_corpus_holds_at_least_150_cases_in_its_categories() -> None:
    """Issue 10's floor, and the categories its closing note counts."""
    from tests.hostile.__main__ import corpus

    cases = corpus()
    assert sum(len(found) for found in cases.values()) >= 150
    assert {"arguments", "kubeconfig", "numbers", "state paths", "stdin"} <= set(cases)
    assert all(case.id for found in cases.values() for case in found)
