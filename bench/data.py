"""Session contents: small (5 keys of ~50 bytes) and large (200 keys of ~1 KB).

Values are random base64 text, so Django's compressed blob cannot shrink them to nothing.
"""

import base64
import random

SIZES: dict[str, tuple[int, int]] = {"small": (5, 50), "large": (200, 1000)}


def random_text(length: int, rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(length))[:length].decode()


def payload(size: str, seed: int = 0) -> dict[str, str]:
    keys, length = SIZES[size]
    rng = random.Random(f"{size}-{seed}")
    return {f"k{i}": random_text(length, rng) for i in range(keys)}


def changed_value(old: str, counter: int) -> str:
    """A new value of the same length, different from every earlier one."""
    stamp = f"{counter:012d}"
    return stamp + old[len(stamp) :]
