"""Attributes are decoded when first used, so a request pays only for the keys it touches."""

import pickle

import pytest
from django.test import override_settings

from dbsessions.backends.db import SessionStore
from dbsessions.backends.lazy import PENDING, SessionData
from tests.serializers import CountingJSONSerializer

pytestmark = pytest.mark.django_db(databases="__all__")

COUNTING = "tests.serializers.CountingJSONSerializer"


def data(**values: bytes) -> SessionData:
    import json

    return SessionData(values, lambda raw: json.loads(raw), label=1)


def test_values_are_decoded_on_access_only():
    d = data(a=b"1", b=b'"two"')
    assert dict.__getitem__(d, "a") is PENDING
    assert d["a"] == 1
    assert dict.__getitem__(d, "b") is PENDING
    assert d.get("b") == "two"


@pytest.mark.parametrize(
    "read",
    [
        lambda d: dict(d),
        lambda d: {**d},
        lambda d: dict(d.items()),
        lambda d: dict(zip(d.keys(), d.values(), strict=True)),
        lambda d: d.copy(),
        lambda d: pickle.loads(pickle.dumps(d)),
        lambda d: {k: d[k] for k in d},
    ],
)
def test_every_way_of_reading_yields_decoded_values(read):
    assert read(data(a=b"1", b=b"[2]")) == {"a": 1, "b": [2]}


def test_dict_behaviour():
    d = data(a=b"1", b=b"2")
    assert "a" in d and len(d) == 2 and sorted(d) == ["a", "b"]
    assert d == {"a": 1, "b": 2}
    assert d.setdefault("a", 9) == 1 and d.setdefault("c", 3) == 3
    assert d.pop("b") == 2 and d.pop("b", None) is None
    with pytest.raises(KeyError):
        d.pop("b")
    assert d | {"z": 0} == {"a": 1, "c": 3, "z": 0}
    assert repr(d) == "{'a': 1, 'c': 3}"


def test_undecodable_value_behaves_as_missing():
    d = data(good=b"1", bad=b"{nope")
    assert d.get("bad", "default") == "default"
    assert "bad" not in d
    with pytest.raises(KeyError):
        d["bad"]
    assert d == {"good": 1}


@override_settings(SESSION_SERIALIZER=COUNTING)
def test_one_key_change_in_a_large_session_codes_one_value():
    session = SessionStore()
    session.update({f"key{i}": "v" * 1000 for i in range(200)})
    session.save()
    CountingJSONSerializer.reset()

    loaded = SessionStore(session.session_key)
    loaded["key7"] = "changed"
    loaded.save()

    assert (CountingJSONSerializer.loads_calls, CountingJSONSerializer.dumps_calls) == (0, 1)
    fresh = SessionStore(session.session_key)
    assert fresh["key7"] == "changed" and fresh["key8"] == "v" * 1000


@override_settings(SESSION_SERIALIZER=COUNTING)
def test_values_handed_out_are_checked_for_in_place_changes():
    session = SessionStore()
    session.update({"cart": {"apple": 1}, "other": [1]})
    session.save()
    CountingJSONSerializer.reset()

    loaded = SessionStore(session.session_key)
    loaded["cart"]["apple"] = 2
    loaded.modified = True
    loaded.save()

    assert (CountingJSONSerializer.loads_calls, CountingJSONSerializer.dumps_calls) == (1, 1)
    assert SessionStore(session.session_key)["cart"] == {"apple": 2}


def test_cycle_key_and_create_keep_values_never_decoded():
    session = SessionStore()
    session.update({"a": 1, "b": [2]})
    session.save()
    loaded = SessionStore(session.session_key)
    loaded.clear()
    loaded.update({"kept": "x"})
    loaded.save()
    other = SessionStore(session.session_key)
    other.cycle_key()
    other.flush()
    again = SessionStore()
    again.update({"z": 1})
    again.save()
    moved = SessionStore(again.session_key)
    assert "z" in moved  # not decoded yet
    moved.create()  # a new key; the undecoded value must travel as its stored bytes
    assert SessionStore(moved.session_key).load() == {"z": 1}
