"""Creating, printing and checking the session tables outside ``migrate``."""
