"""The state store: load, pure change, compare-and-swap write, retry on conflict.

:class:`StateStore` is the only way commands change the state document.  A change is a pure
function ``State -> (State, result)``; the store reads the document and its version, runs the
change, and writes the new text only if the stored document is still at that version.  When
another writer got there first (a 409 from the API server, a changed file) it reads again and
re-runs the change, a bounded number of times.

Refusals: a document that does not decode (bad YAML, unknown schemaVersion, failed validation)
raises :class:`~lbctl.errors.InvalidStateError` before any change runs, so it is never
overwritten.  A change that raises writes nothing; so does ``creating`` (when given), which
sees every new state before it is written where no document exists yet (the CLI's check that
no state was lost, :mod:`lbctl.core.lost`).

Importing this module does not import the state's codec (:mod:`lbctl.core.state`, with the YAML
reader and the rules it checks): a reading command opens its store, sends its read, and imports
the codec while the server answers (:mod:`lbctl.actions.listing`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from lbctl.core import retry
from lbctl.errors import ConflictError, NotFoundError
from lbctl.ports import StateBackend

if TYPE_CHECKING:
    from lbctl.core.state import Encoder, State
    from lbctl.state.cache import StateCache

R = TypeVar("R")

#: How many times a change is run (the first time, then after each lost race) before giving up.
ATTEMPTS = retry.ATTEMPTS


@dataclass(frozen=True)
class Stored:
    """The state document as read or written: its text, the backend's version token (what a
    compare-and-swap write is checked against) and the state it holds."""

    text: str | None
    version: object
    state: State


@dataclass(frozen=True)
class Applied(Generic[R]):
    """What :meth:`StateStore.update` did: the change's result, the state before and after, and
    whether anything was written (False for a dry run or a change that changed nothing);
    ``stored``: the document as it now is (the one written, else the one read)."""

    result: R
    before: State
    after: State
    written: bool
    stored: Stored | None = field(default=None, compare=False)


class StateStore:
    """``sleep`` and ``jitter`` (a random number in [0, 1)) pace the retries, by the one
    compare-and-swap policy of :mod:`lbctl.core.retry`.  ``creating(new_state)`` runs before
    a change creates the document (none stored yet), a dry run included; it raises to
    refuse.  ``cache`` keeps the last document decoded for the next command
    (:mod:`lbctl.state.cache`)."""

    def __init__(self, backend: StateBackend, attempts: int = ATTEMPTS, *,
                 sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random,
                 doctor: str = "lbctl doctor",
                 creating: Callable[[State], None] | None = None,
                 cache: StateCache | None = None) -> None:
        self.backend = backend
        self.creating = creating
        self.cache = cache
        self.doctor = doctor  # the command that lists an invalid document's problems
        self.attempts = attempts
        self._sleep = sleep
        self._jitter = jitter
        self._known: tuple[str, State] | None = None  # the last text read or written, decoded
        self._encoder: Encoder | None = None  # remembers the text of unchanged allocations

    def _encoder_of(self) -> Encoder:
        if self._encoder is None:
            from lbctl.core.state import Encoder

            self._encoder = Encoder()
        return self._encoder

    @property
    def location(self) -> str:
        return self.backend.location

    def decode(self, text: str | None) -> State:
        """The state in ``text`` (as stored): the document this store last read or wrote is
        not decoded again (a long-running caller reads its own writes back from a watch), nor
        the one the cache holds."""
        known = self._known
        if text is not None and known is not None and known[0] == text:
            return known[1]
        if text is None:
            from lbctl.core.state import State

            return State()
        state = self._cached(text)
        if state is None:
            from lbctl.core.state import decode_with_data

            state, data = decode_with_data(text, self.backend.location, doctor=self.doctor)
            if self.cache is not None and data is not None:
                self.cache.put(text, data)
        self._known = (text, state)
        return state

    def _cached(self, text: str) -> State | None:
        data = self.cache.get(text) if self.cache is not None else None
        if data is None:
            return None
        from lbctl.core.state import from_valid

        try:
            return from_valid(data)
        except ValueError:
            return None

    def stored(self, text: str | None, version: object) -> Stored:
        """A document the caller read itself (a watch event), decoded: a base for
        :meth:`update`."""
        return Stored(text, version, self.decode(text))

    def read(self) -> Stored:
        return self.stored(*self.backend.read())

    def load(self) -> State:
        return self.read().state

    def update(
        self, change: Callable[[State], tuple[State, R]], *, dry_run: bool = False,
        base: Stored | None = None,
    ) -> Applied[R]:
        """Apply ``change`` atomically.  Nothing is written when the change leaves the state as
        it was, or with ``dry_run``.  ``base``: the document as the caller last saw it (read
        before, or followed by a watch); the first attempt runs on it instead of reading, and
        writes with its version: if the document changed meanwhile, that write is refused like
        any lost race, and the change runs again on the document read afresh, at once."""
        def attempt(number: int, current: Stored | None = None) -> Applied[R] | retry.Lost:
            # The first attempt is optimistic (a refusal, a dry run or a no-op takes no lock);
            # after a lost race the backend's lock, where it has one, is held from the read to
            # the write, so local writers cannot lose again.
            with self.backend.exclusive() if number else nullcontext():
                current = current or self.read()
                state = current.state
                new_state, result = change(state)
                if current.text is None and self.creating is not None and new_state != state:
                    self.creating(new_state)
                if dry_run or new_state == state:
                    return Applied(result, state, new_state, written=False, stored=current)
                new_text = self._encoder_of().encode(new_state)
                # Known before it is written: a watch may bring the write back before the
                # writer is back (and a text that was refused decodes to this state all the same).
                self._known = (new_text, new_state)
                try:
                    version = self.backend.write(new_text, current.version)
                except ConflictError:
                    return retry.LOST
                except NotFoundError:
                    if current is not base:
                        raise
                    return retry.LOST  # the base's document was deleted since: read again
                return Applied(result, state, new_state, written=True,
                               stored=Stored(new_text, version, new_state))

        if base is not None:
            applied = attempt(0, base)
            if not isinstance(applied, retry.Lost):
                return applied
        return retry.compare_and_swap(
            attempt, attempts=self.attempts, sleep=self._sleep, jitter=self._jitter,
            gave_up=lambda attempts: ConflictError(
                f"{self.backend.location} kept changing under lbctl: gave up after {attempts} "
                "attempts", hint="another writer is busy; run the command again"))
