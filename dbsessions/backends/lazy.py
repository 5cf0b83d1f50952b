"""Session data that decodes each attribute on first use.

A request usually touches a few keys of a session. Decoding only those, and leaving the rest as
the bytes the database returned, keeps the cost of a load and of a save from growing with the
size of the session: an attribute that was never handed out cannot have changed, so the save
neither decodes nor re-encodes it.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_values

_K = TypeVar("_K")
_V = TypeVar("_V")

logger = logging.getLogger("dbsessions")


class _Pending:
    """Marks a value still in its serialized form (one shared instance: ``PENDING``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<pending>"


PENDING = _Pending()


class SessionData(dict[str, Any]):
    """A dict whose ``PENDING`` values are decoded from ``raw_values`` on the way out.

    Every method that hands out values decodes them first; ``__iter__`` is overridden so that
    ``dict(data)`` and ``{**data}`` go through ``__getitem__`` instead of copying the raw slots.
    A value that cannot be decoded is dropped with a warning, as if it had not been stored.
    """

    def __init__(
        self, raw_values: dict[str, bytes], loads: Callable[[bytes], Any], label: object
    ) -> None:
        super().__init__(dict.fromkeys(raw_values, PENDING))
        #: The serialized values as loaded; never changed, so it may be shared.
        self.raw_values = raw_values
        self._loads = loads
        self._label = label

    def _decoded(self, name: str, value: Any) -> Any:
        if value is not PENDING:
            return value
        try:
            decoded = self._loads(self.raw_values[name])
        except Exception as exc:
            logger.warning(
                "Dropped attribute %r of session %s: its stored value cannot be decoded (%s).",
                name,
                self._label,
                type(exc).__name__,
            )
            dict.__delitem__(self, name)
            raise KeyError(name) from None
        dict.__setitem__(self, name, decoded)
        return decoded

    def _decode_all(self) -> None:
        for name, value in list(dict.items(self)):
            with suppress(KeyError):  # undecodable: dropped, and logged by _decoded
                self._decoded(name, value)

    def __getitem__(self, name: str) -> Any:
        return self._decoded(name, dict.__getitem__(self, name))

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def setdefault(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            dict.__setitem__(self, name, default)
            return default

    def pop(self, name: str, *default: Any) -> Any:
        try:
            value = self[name]
        except KeyError:
            if default:
                return default[0]
            raise
        dict.__delitem__(self, name)
        return value

    def popitem(self) -> tuple[str, Any]:
        self._decode_all()
        return dict.popitem(self)

    def items(self) -> "dict_items[str, Any]":
        self._decode_all()
        return dict.items(self)

    def values(self) -> "dict_values[str, Any]":
        self._decode_all()
        return dict.values(self)

    def copy(self) -> dict[str, Any]:
        self._decode_all()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._decode_all()
        if isinstance(other, SessionData):
            other._decode_all()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __or__(self, other: dict[_K, _V]) -> dict[str | _K, Any | _V]:
        return self.copy() | other

    def __repr__(self) -> str:
        self._decode_all()
        return dict.__repr__(self)

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return (dict, (self.copy(),))

    def raw_items(self) -> Iterator[tuple[str, Any]]:
        """(name, value) pairs without decoding; undecoded values come as ``PENDING``."""
        return iter(dict.items(self))
