"""System checks of the platform's own settings."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, register

from common.keys import DEVELOPMENT_FIELD_KEY


@register(Tags.security, deploy=True)
def check_field_encryption_keys(app_configs=None, **kwargs) -> list[Error]:
    """Every FIELD_ENCRYPTION_KEYS entry is a Fernet key, and none is the development key
    (public: committed to the repository). Run by ``check --deploy``, and at start-up by
    the production settings (``validate_field_encryption_keys``)."""
    return [
        Error(message, hint=hint, id="common.E001" if "not a Fernet" in message else "common.E002")
        for message, hint in field_key_problems(settings.FIELD_ENCRYPTION_KEYS)
    ]


def field_key_problems(keys) -> list[tuple[str, str]]:
    hint = (
        "Generate one with `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`; to rotate, put the new key first and keep "
        "the old ones after it until every credential is re-saved."
    )
    problems = []
    if not keys:
        problems.append(("FIELD_ENCRYPTION_KEYS is empty.", hint))
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            problems.append(
                (
                    f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes).",
                    hint,
                )
            )
        if key == DEVELOPMENT_FIELD_KEY:
            problems.append(
                (
                    f"FIELD_ENCRYPTION_KEYS entry {position} is the development key, which is "
                    "public: credentials encrypted with it are as good as plain text.",
                    hint,
                )
            )
    return problems
