"""``manage.py api_token_create USER [--name N] [--days D]``: a new API token for USER.

Prints the key alone on stdout (``export T=$(... api_token_create admin)``): the only
time it is shown - only its hash is stored.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_token_create
from common.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Make an API token for a user and print its key (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--days", type=int, default=None, help="How long it works (default API_TOKEN_DAYS)."
        )

    def handle(self, *args, username, name, days, **options):
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        try:
            token, key = api_token_create(user=user, name=name, days=days)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Token {token.prefix}… for {username}, expires {token.expires_at:%Y-%m-%d}."
        )
        self.stdout.write(key)
