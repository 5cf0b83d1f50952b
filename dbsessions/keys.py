"""Session keys are looked up by their SHA-256; the key itself is never stored."""

import hashlib

#: Longer cookies are never keys this engine issued; they are refused before any query.
MAX_KEY_LENGTH = 256


def hash_key(session_key: str) -> str:
    """Hex SHA-256 of a session key, the value of the ``key_hash`` column."""
    return hashlib.sha256(session_key.encode("utf-8", "replace")).hexdigest()


def is_plausible_key(session_key: object) -> bool:
    """Django's rule (at least 8 characters) plus a length cap and printable ASCII only."""
    return (
        isinstance(session_key, str)
        and 8 <= len(session_key) <= MAX_KEY_LENGTH
        and session_key.isascii()
        and session_key.isprintable()
    )
