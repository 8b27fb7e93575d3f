"""Fernet keys for exchange credentials: the development key, and a per-install key.

Up to this release ``make run`` encrypted every local install's credentials with one key
committed in ``trading_site/settings/local.py`` - public, so it protects nothing. It stays
known here for two jobs only: decrypting what old local installs stored with it (local
settings keep it as a decrypt-only fallback, after the install's own key), and being
refused - for ``live`` accounts while it still encrypts, and by the production system
check (common.checks) anywhere in the list.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

DEVELOPMENT_FIELD_KEY = "CwhxhlZVH3ye43a03qrozS9z9JddDaKIDQorCm-XHRQ="


def private_dir(path: Path) -> Path:
    """``path`` created if missing, readable by its owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def install_key(var_dir: Path) -> str:
    """This install's own Fernet key, made once in ``var_dir/field-encryption.key`` (0600,
    in a 0700 directory). Created with O_EXCL, so two processes starting together end up
    with the same key: the loser of the race reads the winner's."""
    path = private_dir(var_dir) / "field-encryption.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if key:
            return key
        # A writer that has created the file but not yet written it: wait for it.
        import time

        for _ in range(50):
            time.sleep(0.02)
            if key := path.read_text().strip():
                return key
        raise
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")
    return path.read_text().strip()


def encrypting_with_development_key(keys) -> bool:
    """Whether new credentials would be encrypted with the public development key."""
    return bool(keys) and keys[0] == DEVELOPMENT_FIELD_KEY
