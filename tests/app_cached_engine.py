"""A project's own engine built on the cached engine, as a SESSION_ENGINE."""

from dbsessions.backends.cached_db import SessionStore as CachedSessionStore


class SessionStore(CachedSessionStore):
    pass
