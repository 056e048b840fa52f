"""Label selectors as ``kubectl -l`` reads them: normal form, matching, and malformed input."""

from __future__ import annotations

import pytest

from lbctl.core.selectors import parse_selector
from lbctl.errors import ExitCode, UsageError


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        pytest.param("app=web", "app=web", id="equals"),
        pytest.param("app == web", "app=web", id="double-equals"),
        pytest.param("app!=web", "app!=web", id="not-equals"),
        pytest.param("tier in ( b, a,b )", "tier in (a,b)", id="in"),
        pytest.param("tier notin (b,a)", "tier notin (a,b)", id="notin"),
        pytest.param("canary", "canary", id="exists"),
        pytest.param("! canary", "!canary", id="not-exists"),
        pytest.param("example.com/team=blue", "example.com/team=blue", id="prefixed-key"),
        pytest.param("app=", "app=", id="empty-value"),
        pytest.param("b=1, a=2,!c", "!c,a=2,b=1", id="sorted"),
    ],
)
def test_normal_form(text: str, normal: str) -> None:
    assert str(parse_selector(text)) == normal
    assert str(parse_selector(normal)) == normal


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        pytest.param("app=web", {"app": "web"}, True, id="equals-same"),
        pytest.param("app=web", {"app": "api"}, False, id="equals-other"),
        pytest.param("app=web", {}, False, id="equals-absent"),
        pytest.param("app!=web", {"app": "api"}, True, id="not-equals-other"),
        pytest.param("app!=web", {"app": "web"}, False, id="not-equals-same"),
        pytest.param("app!=web", {}, True, id="not-equals-absent"),
        pytest.param("tier in (a,b)", {"tier": "b"}, True, id="in-member"),
        pytest.param("tier in (a,b)", {"tier": "c"}, False, id="in-other"),
        pytest.param("tier in (a,b)", {}, False, id="in-absent"),
        pytest.param("tier notin (a,b)", {"tier": "c"}, True, id="notin-other"),
        pytest.param("tier notin (a,b)", {"tier": "a"}, False, id="notin-member"),
        pytest.param("tier notin (a,b)", {}, True, id="notin-absent"),
        pytest.param("canary", {"canary": ""}, True, id="exists-empty-value"),
        pytest.param("canary", {}, False, id="exists-absent"),
        pytest.param("!canary", {}, True, id="not-exists-absent"),
        pytest.param("!canary", {"canary": "1"}, False, id="not-exists-present"),
        pytest.param("app=web,!canary", {"app": "web"}, True, id="all-hold"),
        pytest.param("app=web,!canary", {"app": "web", "canary": "1"}, False, id="one-fails"),
    ],
)
def test_matches(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(text).matches(labels) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "empty requirement in selector ''", id="empty"),
        pytest.param("app=web,", "empty requirement in selector 'app=web,'", id="trailing-comma"),
        pytest.param("a=b=c", "invalid label value 'b=c' in selector 'a=b=c'", id="two-equals"),
        pytest.param("-app=web", "invalid label key '-app' in selector '-app=web'",
                     id="key-starts-with-dash"),
        pytest.param("!app=web", "invalid label key '!app' in selector '!app=web'",
                     id="negated-equality"),
        pytest.param("app in (web", "invalid label key 'app in (web' in selector 'app in (web'",
                     id="unclosed-set"),
        pytest.param("app in (a b)", "invalid label value 'a b' in selector 'app in (a b)'",
                     id="set-value-with-space"),
        pytest.param("app=" + "v" * 64, f"invalid label value '{'v' * 64}' in selector "
                     f"'app={'v' * 64}'", id="value-too-long"),
        pytest.param("k" * 64, f"invalid label key '{'k' * 64}' in selector '{'k' * 64}'",
                     id="key-too-long"),
    ],
)
def test_malformed(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_selector(text)
    assert caught.value.message == message
    assert caught.value.exit_code == ExitCode.USAGE
