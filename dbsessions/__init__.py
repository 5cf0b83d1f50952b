"""Database-backed Django sessions: one row per session, one row per attribute."""

__version__ = "0.1.0"

from dbsessions.exceptions import SessionConflict

__all__ = ["SessionConflict"]
