"""Errors the session engines raise beyond Django's own."""

from collections.abc import Iterable

from django.contrib.sessions.backends.base import UpdateError


class SessionConflict(UpdateError):
    """A save found attributes that another request changed after this one loaded them
    (``DBSESSIONS["SAME_KEY_WRITES"] = "detect"``), and wrote nothing.

    An ``UpdateError``, so ``SessionMiddleware`` answers as for a session ended meanwhile
    (``SessionInterrupted``, a 400); a view that saves itself can catch it, load the session
    again and redo its change. ``names`` lists the attributes (never the session key).
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        listed = ", ".join(repr(name) for name in self.names)
        super().__init__(
            f"Another request changed session attribute(s) {listed} after this request loaded "
            "them; nothing was saved."
        )
