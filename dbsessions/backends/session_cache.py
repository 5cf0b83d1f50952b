"""The cache calls of ``cached_db``: Django's cache API, with a shortcut for its RedisCache.

Django's ``RedisCache`` builds a new ``redis.Redis`` client for every call (its
``RedisCacheClient.get_client``), which costs about as much as the round trip to Redis itself
(100 us of a 250 us hit, measured on the development machine). ``RedisShortcut`` makes the same
calls through one client per connection pool, kept for the life of the cache object, with
the cache's own keys, serializer and timeouts: entries are the same bytes under the same names
with the same expiry, so either path reads what the other wrote.

It is used only for ``django.core.cache.backends.redis.RedisCache`` (or a subclass) whose
client and methods are Django's own: a subclass that changes one of them, and any other
cache, gets Django's API unchanged. The shortcut relies on three private attributes of the client
(``_get_connection_pool``, ``_client``, ``_serializer``); where one is missing (another Django
release) the cache is used as it is.
"""

from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from django.core.cache import BaseCache

#: The methods ``RedisShortcut`` stands in for; a subclass that overrides one keeps its own.
_SHORTENED = ("get", "get_many", "add", "set", "set_many", "delete_many", "make_and_validate_key")
#: The client's methods it stands in for (``get_client`` picks the server).
_CLIENT_METHODS = ("get_client", "get", "get_many", "add", "set", "set_many", "delete_many")
_CLIENT_ATTRIBUTES = ("_get_connection_pool", "_client", "_serializer")


class SessionCache(Protocol):
    """The part of Django's cache API that ``cached_db`` uses."""

    def get(self, key: str) -> Any: ...

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...

    def add(self, key: str, value: Any, timeout: int) -> bool: ...

    def set(self, key: str, value: Any, timeout: int) -> None: ...

    def set_many(self, data: Mapping[str, Any], timeout: int) -> Any: ...

    def delete_many(self, keys: Iterable[str]) -> None: ...


class RedisShortcut:
    """A Django ``RedisCache`` called through a reused ``redis.Redis`` per connection pool.

    Timeouts are whole seconds above zero (the engine never asks for another); any other
    timeout goes through the cache itself.
    """

    def __init__(self, cache: Any) -> None:
        self._cache = cache
        self._client = cache._cache  # Django's RedisCacheClient, built once per cache
        self._dumps = self._client._serializer.dumps
        self._loads = self._client._serializer.loads
        #: id(pool) -> (pool, client); the pool is kept so that its id is not reused.
        self._clients: dict[int, tuple[Any, Any]] = {}

    def _redis(self, write: bool) -> Any:
        pool = self._client._get_connection_pool(write)
        entry = self._clients.get(id(pool))
        if entry is None:
            entry = self._clients[id(pool)] = (pool, self._client._client(connection_pool=pool))
        return entry[1]

    def _key(self, key: str) -> str:
        return self._cache.make_and_validate_key(key)  # type: ignore[no-any-return]

    def get(self, key: str) -> Any:
        value = self._redis(False).get(self._key(key))
        return None if value is None else self._loads(value)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        values = self._redis(False).mget([self._key(key) for key in keys])
        return {key: self._loads(v) for key, v in zip(keys, values, strict=True) if v is not None}

    def add(self, key: str, value: Any, timeout: int) -> bool:
        if timeout <= 0:
            return bool(self._cache.add(key, value, timeout))
        return bool(self._redis(True).set(self._key(key), self._dumps(value), ex=timeout, nx=True))

    def set(self, key: str, value: Any, timeout: int) -> None:
        if timeout <= 0:
            self._cache.set(key, value, timeout)
            return
        self._redis(True).set(self._key(key), self._dumps(value), ex=timeout)

    def set_many(self, data: Mapping[str, Any], timeout: int) -> None:
        if timeout <= 0:
            self._cache.set_many(data, timeout)
            return
        entries = {self._key(key): self._dumps(value) for key, value in data.items()}
        pipeline = self._redis(True).pipeline()
        pipeline.mset(entries)
        for key in entries:
            pipeline.expire(key, timeout)
        pipeline.execute()

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = [self._key(key) for key in keys]
        if keys:
            self._redis(True).delete(*keys)


_shortcuts: "WeakKeyDictionary[BaseCache, SessionCache]" = WeakKeyDictionary()


def session_cache(cache: BaseCache) -> SessionCache:
    """``cache``, or its ``RedisShortcut`` where that makes the same calls more cheaply."""
    try:
        return _shortcuts[cache]
    except KeyError:
        pass
    shortcut: SessionCache = cache  # type: ignore[assignment]
    if _shortcut_applies(cache):
        shortcut = RedisShortcut(cache)
    _shortcuts[cache] = shortcut
    return shortcut


def _shortcut_applies(cache: BaseCache) -> bool:
    try:
        from django.core.cache.backends.redis import RedisCache, RedisCacheClient
    except ImportError:  # pragma: no cover - Django without the Redis backend
        return False
    if not isinstance(cache, RedisCache):
        return False
    if any(getattr(type(cache), name) is not getattr(RedisCache, name) for name in _SHORTENED):
        return False
    client_class = getattr(cache, "_class", None)
    if client_class is None or not issubclass(client_class, RedisCacheClient):
        return False
    if any(
        getattr(client_class, name) is not getattr(RedisCacheClient, name)
        for name in _CLIENT_METHODS
    ):
        return False  # say, a client that picks servers by key (sharding) or compresses
    client = cache._cache  # type: ignore[attr-defined]
    return all(hasattr(client, name) for name in _CLIENT_ATTRIBUTES)
