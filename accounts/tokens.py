"""API token keys: made, hashed and recognised by plain functions (no tables here)."""

from __future__ import annotations

import hashlib
import secrets

# Characters of a key kept in clear to recognise it by (admin, API, dashboard): 32 of
# its 160 bits, leaving 128 unknown.
PREFIX_LENGTH = 8


def new_key() -> str:
    """160 random bits as 40 hex digits: the format DRF's tokens had, so keys made before
    (and converted by the migration) and keys made now look alike."""
    return secrets.token_hex(20)


def key_hash(key: str) -> str:
    """What is stored of a key: its SHA-256, hex. A key is random, not a password: one
    hash is as good as a slow one here and costs microseconds per API request."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]
