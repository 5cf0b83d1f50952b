"""A session engine that cannot delete expired sessions (SessionBase's clear_expired)."""

from django.contrib.sessions.backends.base import SessionBase


class SessionStore(SessionBase):
    pass
