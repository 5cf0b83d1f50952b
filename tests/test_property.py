"""Two requests on one session, interleaved by hypothesis, against a model of what they saved.

Two ``SessionStore`` instances hold the same session key, as two concurrent requests of one
browser do, and take turns: set, ``del``, ``pop``, ``update``, ``clear()``, an in-place change
of a list value followed by ``modified = True``, ``save()``, ``cycle_key()``, ``flush()``, a
full read, and a new request (a fresh store with the cookie either store would leave behind).
Attribute names differ only by case, accent or a trailing space: each is its own attribute.

The model (``Model`` and ``StoreModel``) is last-writer-wins per attribute:

- ``Model.sessions`` maps each live key to the attributes its row holds. The session of another
  ``APP_NAME`` in the same tables must never change.
- A store loads on its first use, as the engine does (``clear()`` and ``flush()`` are no use:
  they do not read). Its ``base`` is what it loaded, or wrote at its last save; a load of a key
  with no session starts afresh: no key, no data.
- A save writes only what differs from ``base``: the attributes whose value changed or that
  are new (upserted) and those of ``base`` the store no longer has (deleted). Attributes it did
  not change keep whatever the other store saved meanwhile. After ``clear()`` on a store that
  had not loaded (``base is None``), a save replaces all of the session's attributes.
- A save of a session ended or rotated by the other store since this one loaded it raises
  Django's ``UpdateError`` and changes nothing; the request is over, and the model goes on with
  a new request holding the same (now unknown) key. A store without a key creates a new session.
- ``cycle_key()`` gives the row a new key and leaves its attributes as they are in the
  database (the store's unsaved changes stay unsaved); the old key no longer loads. On a
  session the other store ended or rotated since this one loaded it, it starts an empty session
  under a new key: it never brings the ended session back. On a store without a key, or cleared
  before loading, the store's data becomes a new session (replacing the old one, if any).
- ``flush()`` deletes the session; the store is left empty without a key.

After every step, each live key's rows in the database and a load by a fresh store (through the
cache, for ``cached_db``) give the model's attributes, every key issued and no longer live loads
nothing, and the app's session count is the model's. Each example starts from empty tables and
an empty cache; in the ``atomic`` variant it runs inside one transaction, as ``TestCase`` tests
and ``ATOMIC_REQUESTS`` views do, rolled back at its end. Both stores share the test's
connection: the interleaving is of whole operations (real threads are in test_concurrency.py).

Bounded for CI (40 examples of up to 25 steps); ``DBSESSIONS_HYPOTHESIS_EXAMPLES`` asks for more.
"""

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.core.cache import caches
from django.db import transaction
from django.test import override_settings
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from dbsessions.backends import cached_db, db
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from tests.utils import override_dbsessions, session_rows

NAMES = ["cart", "Cart", "café", "cafe", "cart "]
OTHER_APP, OTHER_DATA = "shop", "another project's cart"

names = st.sampled_from(NAMES)
values = st.one_of(
    st.integers(0, 2), st.sampled_from(["", "a", "é"]), st.lists(st.integers(0, 2), max_size=2)
)
contents = st.dictionaries(names, values, max_size=3)
stores = st.sampled_from([0, 1])
ENGINE_IDS = ["db", "cached_db"]

SETTINGS = hypothesis_settings(
    max_examples=int(os.environ.get("DBSESSIONS_HYPOTHESIS_EXAMPLES", "40")),
    stateful_step_count=25,
    deadline=None,
)


@dataclass
class StoreModel:
    """What one store holds: its key, whether it has loaded, its data and its save ``base``."""

    key: str | None
    loaded: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] | None = None


class TwoStores(RuleBasedStateMachine):
    """Two stores of ``engine`` on one session; see the module docstring for the model."""

    engine: type[db.SessionStore]
    in_atomic: bool

    def __init__(self) -> None:
        super().__init__()
        # Nothing of an earlier example survives: not its rows, not its cache entries.
        session_rows().delete()
        caches[settings.SESSION_CACHE_ALIAS].clear()
        self.atomic = transaction.atomic(using=app_settings.DATABASE)
        if self.in_atomic:
            self.atomic.__enter__()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.issued: set[str] = set()
        self.stores: list[db.SessionStore] = []
        self.models: list[StoreModel] = []
        with override_dbsessions(APP_NAME=OTHER_APP):
            other = self.engine()
            other["cart"] = OTHER_DATA
            other.save()
        self.other_key = other.session_key

    def teardown(self) -> None:
        if self.in_atomic:
            transaction.set_rollback(True, using=app_settings.DATABASE)
            self.atomic.__exit__(None, None, None)

    # The model ---------------------------------------------------------------------

    def issue(self, key: str | None) -> str:
        assert key is not None and key not in self.issued, "a new session needs a new key"
        self.issued.add(key)
        return key

    def load(self, i: int) -> StoreModel:
        """The store's model once it has loaded, as its first use makes it do."""
        model = self.models[i]
        if not model.loaded:
            model.loaded = True
            if model.key in self.sessions:
                model.data = copy.deepcopy(self.sessions[model.key])
                model.base = copy.deepcopy(model.data)
            else:
                model.key, model.data, model.base = None, {}, {}
        return model

    def new_request(self, i: int, key: str | None) -> None:
        self.stores[i] = self.engine(key)
        self.models[i] = StoreModel(key)

    # Rules ---------------------------------------------------------------------------

    @initialize(data=contents)
    def start(self, data: dict[str, Any]) -> None:
        seed = self.engine()
        seed.update(copy.deepcopy(data))
        seed.save()
        key = self.issue(seed.session_key)
        self.sessions[key] = copy.deepcopy(data)
        self.stores = [self.engine(key), self.engine(key)]
        self.models = [StoreModel(key), StoreModel(key)]

    @rule(i=stores, name=names, value=values)
    def set(self, i: int, name: str, value: Any) -> None:
        self.load(i).data[name] = copy.deepcopy(value)
        self.stores[i][name] = value

    @rule(i=stores, name=names)
    def delete(self, i: int, name: str) -> None:
        model = self.load(i)
        if name in model.data:
            del model.data[name]
            del self.stores[i][name]
        else:
            with pytest.raises(KeyError):
                del self.stores[i][name]

    @rule(i=stores, name=names)
    def pop(self, i: int, name: str) -> None:
        expected = self.load(i).data.pop(name, None)
        popped = self.stores[i].pop(name, None)
        assert popped == expected

    @rule(i=stores, data=contents)
    def update(self, i: int, data: dict[str, Any]) -> None:
        self.load(i).data.update(copy.deepcopy(data))
        self.stores[i].update(data)

    @rule(i=stores)
    def clear(self, i: int) -> None:
        model = self.models[i]
        if not model.loaded:
            model.loaded, model.base = True, None
        model.data = {}
        self.stores[i].clear()

    @rule(i=stores, name=names, item=st.integers(0, 2))
    def append_in_place(self, i: int, name: str, item: int) -> None:
        model = self.load(i)
        value = self.stores[i].get(name)
        expected = model.data.get(name)
        assert value == expected
        if isinstance(expected, list):
            value.append(item)
            self.stores[i].modified = True
            model.data[name] = [*expected, item]

    @rule(i=stores)
    def read(self, i: int) -> None:
        expected = self.load(i).data
        found = dict(self.stores[i].items())
        assert found == expected

    @rule(i=stores)
    def save(self, i: int) -> None:
        model, store = self.load(i), self.stores[i]
        if model.key is None:
            store.save()
            model.key = self.issue(store.session_key)
            self.sessions[model.key] = copy.deepcopy(model.data)
        elif model.key not in self.sessions:
            with pytest.raises(UpdateError):
                store.save()
            self.new_request(i, model.key)
            return
        else:
            store.save()
            stored = self.sessions[model.key]
            if model.base is None:
                stored.clear()
                stored.update(copy.deepcopy(model.data))
            else:
                for name, value in model.data.items():
                    if name not in model.base or model.base[name] != value:
                        stored[name] = copy.deepcopy(value)
                for name in model.base.keys() - model.data.keys():
                    stored.pop(name, None)
        model.base = copy.deepcopy(model.data)

    @rule(i=stores)
    def cycle_key(self, i: int) -> None:
        model = self.load(i)
        old_key = model.key
        self.stores[i].cycle_key()
        new_key = self.issue(self.stores[i].session_key)
        if old_key is not None and model.base is not None:
            if old_key in self.sessions:
                self.sessions[new_key] = self.sessions.pop(old_key)
            else:  # ended or rotated by the other store: never brought back
                model.data, model.base = {}, {}
                self.sessions[new_key] = {}
        else:
            self.sessions.pop(old_key, None)
            self.sessions[new_key] = copy.deepcopy(model.data)
            model.base = copy.deepcopy(model.data)
        model.key = new_key

    @rule(i=stores)
    def flush(self, i: int) -> None:
        self.stores[i].flush()
        model = self.models[i]
        self.sessions.pop(model.key, None)
        self.models[i] = StoreModel(None, loaded=True, base={})

    @rule(i=stores, cookie_of=stores)
    def next_request(self, i: int, cookie_of: int) -> None:
        self.new_request(i, self.models[cookie_of].key)

    # Checks --------------------------------------------------------------------------

    @invariant()
    def stores_hold_the_model_keys(self) -> None:
        for store, model in zip(self.stores, self.models, strict=True):
            same = store.session_key == model.key
            assert same, "a store's key is not the one the model expects"

    @invariant()
    def database_holds_the_model(self) -> None:
        loads = self.engine().serializer().loads
        for key, expected in self.sessions.items():
            row = session_rows().get(key_hash=hash_key(key), app_name=app_settings.APP_NAME)
            in_rows = {a.name: loads(bytes(a.value)) for a in row.attributes.all()}
            assert in_rows == expected
            loaded = dict(self.engine(key).load().items())
            assert loaded == expected
        for key in self.issued - self.sessions.keys():
            store = self.engine(key)
            loaded = store.load()
            assert loaded == {}, "a key no longer live still loads its session"
            assert store.session_key is None
        count = session_rows().filter(app_name=app_settings.APP_NAME).count()
        assert count == len(self.sessions)

    @invariant()
    def other_app_is_untouched(self) -> None:
        with override_dbsessions(APP_NAME=OTHER_APP):
            loaded = dict(self.engine(self.other_key).load().items())
        assert loaded == {"cart": OTHER_DATA}


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize("in_atomic", [False, True], ids=["autocommit", "atomic"])
@pytest.mark.parametrize("engine", [db.SessionStore, cached_db.SessionStore], ids=ENGINE_IDS)
def test_two_stores_on_one_session(engine: type[db.SessionStore], in_atomic: bool) -> None:
    machine = type("TwoStoresMachine", (TwoStores,), {"engine": engine, "in_atomic": in_atomic})
    with override_settings(SESSION_ENGINE=engine.__module__):
        run_state_machine_as_test(machine, settings=SETTINGS)
