"""Encrypted model fields for exchange credentials.

Built on django-fernet-encrypted-fields, with three changes a trading platform needs:
- keys come from FIELD_ENCRYPTION_KEYS (Fernet keys; the first encrypts, all decrypt),
  not from SECRET_KEY, so rotating Django's secret never loses a credential;
- a value read from the database stays sealed: it is a ``SealedSecret`` holding the
  ciphertext, decrypted only by an explicit ``reveal()`` (the exchange gateway's job),
  so loading an account in a page, a list or a log line never decrypts anything and
  printing one shows no secret;
- decryption fails closed: a token that no key opens raises instead of being handed
  back as ciphertext (the library passes InvalidToken through silently).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from encrypted_fields.fields import EncryptedCharField


class CredentialDecryptionError(Exception):
    """A stored credential could not be decrypted with any configured key."""


def fernet() -> MultiFernet:
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


class SealedSecret:
    """A stored credential, still encrypted. ``reveal()`` decrypts it."""

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token

    def reveal(self) -> str:
        try:
            return fernet().decrypt(self.token.encode()).decode()
        except InvalidToken as exc:
            raise CredentialDecryptionError(
                "A stored credential could not be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS; add the key it was written with to the list."
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SealedSecret) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __str__(self) -> str:
        return "****"

    __repr__ = __str__


def reveal(value: SealedSecret | str | None) -> str:
    """The plain text of a credential, sealed (read from the DB) or not (just assigned)."""
    if isinstance(value, SealedSecret):
        return value.reveal()
    return value or ""


class SecretCharField(EncryptedCharField):
    @property
    def keys(self):  # the library's SECRET_KEY-based derivation is not used
        return settings.FIELD_ENCRYPTION_KEYS

    @property
    def f(self) -> MultiFernet:
        # Not cached on the field: keys can change (rotation, tests).
        return fernet()

    def from_db_value(self, value, expression, connection):
        return SealedSecret(value) if value else ""

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if isinstance(value, SealedSecret):
            return value.token  # already encrypted: store as is
        if not value:
            return ""
        return self.f.encrypt(str(value).encode()).decode()

    def value_to_string(self, obj):
        # dumpdata and serializers: never plain text.
        value = self.value_from_object(obj)
        return value.token if isinstance(value, SealedSecret) else self.get_prep_value(value)
