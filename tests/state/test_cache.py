"""The state cache: a document read before, unchanged, is built from what was read from it;
any other document is decoded as ever, and the cache is trusted only when private and written
by this very lbctl.

What users rely on: the state a command sees is exactly what decoding the document gives, hit
or miss; an invalid document is refused every time; a cache another user could have written is
ignored; nothing the cache meets (a broken entry, no directory) changes what a command does.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lbctl.core import state as codec
from lbctl.core import yamlkit
from lbctl.core.state import State, decode
from lbctl.errors import InvalidStateError
from lbctl.state.cache import KEPT, StateCache, directory_of
from lbctl.state.store import StateStore
from tests.conftest import Cli
from tests.state.test_store import MemoryBackend

DOCUMENT = (
    "schemaVersion: 1\n"
    "pools:\n"
    "  web:\n"
    "    addresses: [192.0.2.0/28, 2001:db8::/120]\n"
    "    autoAssign: true\n"
    "    avoidBuggyIPs: false\n"
    "    reservations: {192.0.2.14: router}\n"
    "allocations:\n"
    "  shop:\n"
    "    cart: {ips: [192.0.2.1], pool: web, sharingKey: k, ports: [TCP/80]}\n"
    "    front: {ips: [192.0.2.1, 2001:db8::1], pool: web, sharingKey: k, ports: [TCP/443]}\n"
)


class Command:
    """A fresh store (a new command) reading ``text``: ``load()`` returns the state and, as a
    command that succeeded, writes what the cache kept."""

    def __init__(self, text: str | None, cache: StateCache) -> None:
        backend = MemoryBackend()
        backend.text = text
        self.store = StateStore(backend, cache=cache)
        self.cache = cache

    def load(self) -> State:
        state = self.store.load()
        self.cache.write()
        return state



@pytest.fixture
def cache(tmp_path: Path) -> StateCache:
    return StateCache(tmp_path / "cache", "context ConfigMap kube-system/lbctl-state")


def test_an_unchanged_document_is_built_from_what_was_read_from_it(
        cache: StateCache, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Command(DOCUMENT, cache).load()
    assert first == decode(DOCUMENT)
    assert oct(cache.path.stat().st_mode & 0o777) == "0o600"
    assert oct(cache.directory.stat().st_mode & 0o777) == "0o700"
    def unread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the document was read again")

    monkeypatch.setattr(yamlkit, "load", unread)  # a hit reads no YAML
    again = Command(DOCUMENT, cache).load()
    assert again == first
    assert again.allocations[("shop", "front")].ips == ("192.0.2.1", "2001:db8::1")


def test_the_document_always_wins(cache: StateCache) -> None:
    """Any change of the text, one character, is decoded afresh and replaces the entry."""
    Command(DOCUMENT, cache).load()
    changed = DOCUMENT.replace("TCP/80]", "TCP/81]")
    assert Command(changed, cache).load() == decode(changed)
    assert json.loads(cache.path.read_text())["text"] == changed
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)


def test_an_invalid_document_is_refused_every_time_and_never_kept(cache: StateCache) -> None:
    invalid = DOCUMENT.replace("ports: [TCP/443]", "ports: [TCP/80]")  # two on one port
    for _ in range(2):
        with pytest.raises(InvalidStateError, match="192.0.2.1 is held by shop/cart"):
            Command(invalid, cache).load()
    assert not cache.path.exists()


def test_an_entry_this_lbctl_did_not_write_is_not_used(cache: StateCache) -> None:
    """Another version, a changed rule (a module of lbctl.core changed), a broken file, the
    entry of another location: the document is decoded again."""
    Command(DOCUMENT, cache).load()
    entry = json.loads(cache.path.read_text())
    planted = dict(entry, data={**entry["data"], "pools": {}})  # what a stale reader gave
    for changed in ({"lbctl": ["0.0.0", entry["lbctl"][1]]},
                    {"lbctl": [entry["lbctl"][0], entry["lbctl"][1][1:]]},
                    {"slot": "other ConfigMap kube-system/lbctl-state"},
                    {"format": entry["format"] + 1}):
        cache.path.write_text(json.dumps({**planted, **changed}))
        assert Command(DOCUMENT, cache).load() == decode(DOCUMENT), changed
    cache.path.write_text("{not json")
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)
    assert json.loads(cache.path.read_text())["data"] == entry["data"]  # written anew


def test_an_entry_others_may_write_is_not_read_and_is_replaced(cache: StateCache) -> None:
    Command(DOCUMENT, cache).load()
    entry = json.loads(cache.path.read_text())
    cache.path.write_text(json.dumps(dict(entry, data={**entry["data"], "pools": {}})))
    cache.path.chmod(0o666)
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)
    assert json.loads(cache.path.read_text())["data"] == entry["data"]
    assert oct(cache.path.stat().st_mode & 0o777) == "0o600"


def test_a_directory_others_may_write_is_neither_read_nor_written(cache: StateCache) -> None:
    Command(DOCUMENT, cache).load()
    entry = json.loads(cache.path.read_text())
    cache.path.write_text(json.dumps(dict(entry, data={**entry["data"], "pools": {}})))
    cache.directory.chmod(0o777)
    before = cache.path.read_text()
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)
    assert cache.path.read_text() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root (CI has it)")
def test_an_entry_of_another_user_is_not_read(cache: StateCache) -> None:
    Command(DOCUMENT, cache).load()
    entry = json.loads(cache.path.read_text())
    cache.path.write_text(json.dumps(dict(entry, data={**entry["data"], "pools": {}})))
    os.chown(cache.path, 12345, 12345)
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)


def test_a_link_in_place_of_the_entry_is_not_followed(cache: StateCache,
                                                       tmp_path: Path) -> None:
    Command(DOCUMENT, cache).load()
    entry = json.loads(cache.path.read_text())
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(dict(entry, data={**entry["data"], "pools": {}})))
    cache.path.unlink()
    cache.path.symlink_to(elsewhere)
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)


def test_data_json_would_change_is_not_kept(cache: StateCache) -> None:
    """A hold's end written unquoted is a YAML timestamp: not something JSON gives back."""
    document = DOCUMENT + ("holds:\n  shop:\n    old: {ips: [192.0.2.2], pool: web, "
                           "expires: 2025-01-31T12:00:00Z}\n")
    assert Command(document, cache).load() == decode(document)
    assert not cache.path.exists()


def test_no_place_for_a_cache_changes_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    cache = StateCache(blocked / "lbctl", "slot")  # its directory cannot be made
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)
    assert Command(None, cache).load() == decode(None)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root (CI has it)")
def test_root_with_another_users_home_leaves_no_directory_there(tmp_path: Path) -> None:
    """``sudo lbctl`` keeping the user's HOME: the user's ``~/.cache`` must not become root's;
    the command reads its state all the same."""
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 12345, 12345)
    cache = StateCache(home / ".cache" / "lbctl", "slot")
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)
    assert list(home.iterdir()) == []
    (home / ".cache").mkdir()
    os.chown(home / ".cache", 12345, 12345)
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)
    assert list((home / ".cache").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root (CI has it)")
def test_a_cache_made_in_a_shared_sticky_directory_is_used(tmp_path: Path) -> None:
    """``LBCTL_CACHE_DIR=/tmp/new`` for a user who does not own /tmp (sticky and shared by
    design): the directory is made, private, and the next read is a hit."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    os.chown(shared, 12345, 12345)
    cache = StateCache(shared / "new" / "lbctl", "slot")
    assert Command(DOCUMENT, cache).load() == decode(DOCUMENT)
    assert stat.S_IMODE(os.stat(shared / "new").st_mode) == 0o700
    assert cache.get(DOCUMENT) is not None


def test_where_the_cache_is(tmp_path: Path) -> None:
    assert directory_of({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "lbctl"
    assert directory_of({"LBCTL_CACHE_DIR": "/x/y"}) == Path("/x/y")
    assert directory_of({"LBCTL_CACHE_DIR": ""}) is None
    assert directory_of({"LBCTL_CACHE_DIR": "rel", "HOME": "/h"}) is None  # not one per cwd
    assert directory_of({"LBCTL_CACHE_DIR": "~/c"}) == Path.home() / "c"
    assert directory_of({"LBCTL_CACHE_DIR": "~nosuchuser/c"}) is None  # no home: no cache
    assert directory_of({"XDG_CACHE_HOME": "/c"}) == Path("/c/lbctl")
    assert directory_of({"XDG_CACHE_HOME": "relative", "HOME": "/h"}) == Path("/h/.cache/lbctl")


def test_a_command_rereads_nothing_of_an_unchanged_state_and_all_of_a_changed_one(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pool list`` twice on one state file: the second run prints the same without checking
    the document's rules again; once the file changes, they are checked again."""
    state = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "web", "192.0.2.0/28", "--state", state).code == 0
    first = cli("pool", "list", "--state", state)
    assert (first.code, first.out.split()[:2]) == (0, ["NAME", "FAMILY"])
    kept = list((Path(os.environ["HOME"]) / ".cache" / "lbctl").iterdir())
    assert len(kept) == 1

    def unchecked(state: object) -> list[object]:
        raise AssertionError("the rules were checked again")

    monkeypatch.setattr(codec, "validate", unchecked)
    assert cli("pool", "list", "--state", state) == first
    Path(state).write_text(Path(state).read_text().replace("192.0.2.0/28", "192.0.2.0/27"))
    with pytest.raises(AssertionError, match="checked again"):
        cli("pool", "list", "--state", state)


def test_an_empty_LBCTL_CACHE_DIR_keeps_nothing(cli: Cli, tmp_path: Path) -> None:
    state = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "web", "192.0.2.0/28", "--state", state,
               env={"LBCTL_CACHE_DIR": ""}).code == 0
    assert cli("pool", "list", "--state", state).code == 0
    assert not (Path(os.environ["HOME"]) / ".cache").exists()


def test_a_command_that_fails_keeps_nothing(cli: Cli, tmp_path: Path) -> None:
    """Every file is as it was after a command that failed, the cache's too."""
    state = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "web", "192.0.2.0/28", "--state", state).code == 0
    cache = Path(os.environ["HOME"]) / ".cache"
    assert not cache.exists()  # pool add read no document
    assert cli("pool", "show", "nope", "--state", state).code == 3
    assert not cache.exists()
    assert cli("pool", "show", "web", "--state", state).code == 0
    assert len(list((cache / "lbctl").iterdir())) == 1


def test_the_states_read_last_are_kept(tmp_path: Path) -> None:
    """One entry per state location, and only the ones written last: a person who creates
    cluster after cluster does not fill the directory."""
    directory = tmp_path / "cache"
    for number in range(KEPT + 3):
        Command(DOCUMENT, StateCache(directory, f"https://10.0.0.{number}:6443 ctx")).load()
    assert len(list(directory.iterdir())) == KEPT
    last = StateCache(directory, f"https://10.0.0.{KEPT + 2}:6443 ctx")
    first = StateCache(directory, "https://10.0.0.0:6443 ctx")
    assert (last.path.exists(), first.path.exists()) == (True, False)
