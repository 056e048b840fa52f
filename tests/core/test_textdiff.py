"""``diff -u`` compatible unified diffs of text."""

from __future__ import annotations

from lbctl.core.textdiff import unified_diff


def test_unified_diff_is_patch_compatible() -> None:
    assert unified_diff("a\nb", "a\nc", "x.conf") == (
        "--- a/x.conf\n+++ b/x.conf\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
        "+c\n\\ No newline at end of file\n"
    )


def test_unified_diff_keeps_crlf_and_is_empty_without_change() -> None:
    assert unified_diff("a\r\nb\r\n", "a\r\nb\r\n", "x") == ""
    assert unified_diff("a\r\n", "b\r\n", "x").endswith("-a\r\n+b\r\n")
