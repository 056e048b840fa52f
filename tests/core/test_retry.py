"""The one compare-and-swap retry policy (state store, kube-proxy apply): in milliseconds."""

from __future__ import annotations

import pytest

from lbctl.core import retry
from lbctl.errors import ConflictError, RefusedError


def gave_up(attempts: int) -> Exception:
    return ConflictError(f"gave up after {attempts}")


def test_the_first_attempt_that_does_not_lose_wins() -> None:
    seen: list[int] = []
    sleeps: list[float] = []

    def attempt(number: int) -> str | retry.Lost:
        seen.append(number)
        return retry.LOST if number < 2 else "written"

    assert retry.compare_and_swap(attempt, gave_up=gave_up, sleep=sleeps.append,
                                  jitter=lambda: 1.0) == "written"
    assert seen == [0, 1, 2]
    assert sleeps == [0.02, 0.04]  # nothing before the first attempt


def test_gives_up_after_its_attempts_with_doubling_capped_jittered_waits() -> None:
    sleeps: list[float] = []
    with pytest.raises(ConflictError, match="gave up after 9"):
        retry.compare_and_swap(lambda n: retry.LOST, gave_up=gave_up, sleep=sleeps.append,
                               jitter=lambda: 0.5, attempts=9)
    assert sleeps == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5]


def test_other_errors_propagate_at_once() -> None:
    calls: list[int] = []

    def attempt(number: int) -> None:
        calls.append(number)
        raise RefusedError("no")

    with pytest.raises(RefusedError):
        retry.compare_and_swap(attempt, gave_up=gave_up, sleep=lambda s: None,
                               jitter=lambda: 0.0)
    assert calls == [0]


def test_a_falsy_result_is_a_result() -> None:
    assert retry.compare_and_swap(lambda n: None, gave_up=gave_up, sleep=lambda s: None,
                                  jitter=lambda: 0.0) is None
