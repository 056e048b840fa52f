"""Redaction of the secrets lbctl read: a long one wherever it appears, a short one (fewer than
``errors.SHORT`` characters, which would hide every word holding its letters) where a message
labels it as a credential; and the long-running commands' log lines go through it too."""

from __future__ import annotations

import io
import json

import pytest

from lbctl import errors
from lbctl.errors import keep_secret, redact

LONG, SHORT, ONE = "Lq8-long-enough", "Zx9", "q"


@pytest.fixture(autouse=True)
def _secrets() -> None:
    for secret in (LONG, SHORT, ONE):
        keep_secret(secret)


@pytest.mark.parametrize(("text", "shown"), [
    (f"peer r1: {LONG} refused", "peer r1: *** refused"),
    (f"password: {SHORT}", "password: ***"),
    (f'neighbor 192.0.2.1 {{ md5-password "{SHORT}"; }}',
     'neighbor 192.0.2.1 { md5-password "***"; }'),
    (f"--password={SHORT}", "--password=***"),
    (f"md5 {SHORT} refused", "md5 *** refused"),
    (f"token='{ONE}' rejected", "token='***' rejected"),
    (f"https://admin:{SHORT}@192.0.2.1:6443/api", "https://admin:***@192.0.2.1:6443/api"),
    # unlabelled, or a longer value that merely starts with it: shown as it is
    (f"{SHORT} and q pools", f"{SHORT} and q pools"),
    (f"password: {SHORT}x", f"password: {SHORT}x"),
    ("the password is wrong; a q", "the password is wrong; a q"),
])
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_short_secret_is_not_kept_as_a_substring() -> None:
    assert SHORT not in errors._SECRETS and SHORT in errors._SHORT


def test_the_speaker_log_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    from lbctl.cli import speaker

    speaker._log(f'exabgp: md5-password "{SHORT}" for {LONG}')
    assert capsys.readouterr().err.endswith(' lbctl speaker: exabgp: md5-password "***" for ***\n')


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_controller_log_is_redacted(fmt: str) -> None:
    from lbctl.cli import controller

    out = io.StringIO()
    controller.make_log(controller.LogFormat(fmt), out)("warning", f"watch failed: {LONG}", {})
    line = out.getvalue()
    assert LONG not in line and "watch failed: ***" in line


def test_the_controller_json_log_is_redacted_where_json_escapes_the_secret() -> None:
    """JSON escapes a quote: a short secret in its label's quotes (``md5-password "Zx9"``), or
    a long one that holds a quote, is still redacted."""
    from lbctl.cli import controller

    quoted = 'Qk2"long-with-a-quote'
    keep_secret(quoted)
    out = io.StringIO()
    controller.make_log(controller.LogFormat.json, out)(
        "warning", f'exabgp: md5-password "{SHORT}"', {"hint": f"password {quoted}"})
    line = out.getvalue()
    assert SHORT not in line and "Qk2" not in line, line
    assert json.loads(line)["msg"] == 'exabgp: md5-password "***"'
