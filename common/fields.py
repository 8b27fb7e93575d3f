"""Encrypted model fields for exchange credentials.

Built on django-fernet-encrypted-fields, with two changes a trading platform needs:
- keys come from FIELD_ENCRYPTION_KEYS (Fernet keys; the first encrypts, all decrypt),
  not from SECRET_KEY, so rotating Django's secret never loses a credential;
- decryption fails closed: a value that no key opens raises instead of being
  handed back as ciphertext (the library passes InvalidToken through silently).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from encrypted_fields.fields import EncryptedCharField, EncryptedTextField


class CredentialDecryptionError(Exception):
    """A stored credential could not be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: exchange credentials cannot be encrypted. "
            "Generate a key with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'` and set it in the environment."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


class _FailClosedMixin:
    @property
    def keys(self):  # the library's key derivation is not used
        return settings.FIELD_ENCRYPTION_KEYS

    @property
    def f(self) -> MultiFernet:
        # Not cached on the field: settings can change in tests and on key rotation.
        return _fernet()

    def from_db_value(self, value, expression, connection):
        # Every value read from the database is a token: decrypt it or fail.
        if value is None:
            return value
        try:
            return self.f.decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise CredentialDecryptionError(
                f"{self.model.__name__}.{self.name} could not be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS; add the key it was written with to the list."
            ) from exc

    def to_python(self, value):
        # Values in Python are always plain text; only from_db_value sees tokens.
        return value if value is None or isinstance(value, str) else str(value)


class SecretCharField(_FailClosedMixin, EncryptedCharField):
    pass


class SecretTextField(_FailClosedMixin, EncryptedTextField):
    pass
