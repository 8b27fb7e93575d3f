"""`make run`'s settings are safe for real keys: an install key of its own under var/
(the committed development key only decrypts), DEBUG off, private files, a live account
refused while the development key encrypts, the admin password kept out of the output."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from common.keys import DEVELOPMENT_FIELD_KEY

BASE_DIR = Path(__file__).resolve().parent.parent
PROBE = (
    "from trading_site.settings import local as s; "
    "print(s.DEBUG); print(s.FIELD_ENCRYPTION_KEYS[0]); print(s.FIELD_ENCRYPTION_KEYS[1:])"
)


def load_local(var_dir: Path, **extra: str) -> list[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VAR_DIR": str(var_dir),
        # Any URL: nothing connects while the settings load, and no embedded Redis starts.
        "REDIS_URL": "redis://127.0.0.1:9/0",
        **extra,
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_settings_make_a_private_install_key_and_keep_the_old_one_decrypt_only(tmp_path):
    var_dir = tmp_path / "var"

    debug, first, rest = load_local(var_dir)
    _, again, _ = load_local(var_dir)

    assert debug == "False"
    assert first != DEVELOPMENT_FIELD_KEY
    Fernet(first)  # a real key
    assert again == first  # made once, kept
    assert rest == f"[{DEVELOPMENT_FIELD_KEY!r}]"
    assert mode(var_dir) == 0o700
    assert mode(var_dir / "field-encryption.key") == 0o600
    assert mode(var_dir / "db.sqlite3") == 0o600


def test_debug_is_on_only_when_asked_for(tmp_path):
    assert load_local(tmp_path / "var", DJANGO_DEBUG="1")[0] == "True"


def test_credentials_stored_with_the_development_key_still_decrypt(settings):
    from common.fields import SealedSecret, fernet

    old_token = Fernet(DEVELOPMENT_FIELD_KEY).encrypt(b"old-secret").decode()
    install = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [install, DEVELOPMENT_FIELD_KEY]

    new_token = fernet().encrypt(b"new-secret")

    assert SealedSecret(old_token).reveal() == "old-secret"
    assert Fernet(install).decrypt(new_token) == b"new-secret"  # the install key encrypts


@pytest.mark.django_db
@pytest.mark.parametrize("first", [DEVELOPMENT_FIELD_KEY, "install"])
def test_live_accounts_are_refused_while_the_development_key_encrypts(settings, first):
    from accounts import services
    from accounts.tests.factories import UserFactory
    from common.exceptions import ValidationFailed

    install = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [install if first == "install" else first, install]

    def create():
        return services.account_create(
            owner=UserFactory(),
            exchange_id="binance",
            label="real money",
            mode="live",
            api_key="live-key-0123456789",
            api_secret="live-secret-0123456789",
        )

    if first == DEVELOPMENT_FIELD_KEY:
        with pytest.raises(ValidationFailed, match="development key"):
            create()
    else:
        assert create().mode == "live"


@pytest.mark.django_db
def test_the_demo_admin_password_goes_to_a_private_file_not_the_output(
    tmp_path, monkeypatch, capsys
):
    from django.contrib.auth import get_user_model

    from trading_site import run

    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))

    run.ensure_demo_admin()

    out = capsys.readouterr().out
    path = tmp_path / "var" / "admin-password"
    password = path.read_text().strip()
    assert mode(path) == 0o600
    assert password not in out
    assert str(path) in out
    assert get_user_model().objects.get(username="admin").check_password(password)
