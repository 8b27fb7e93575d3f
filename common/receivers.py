"""Signal receivers of common."""

from __future__ import annotations

import time

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from common import sessions


@receiver(user_logged_in, dispatch_uid="common.stamp_login_activity")
def _stamp_login(sender, request=None, user=None, **kwargs) -> None:
    # A login is activity: the idle time counts from it (common/sessions.py).
    session = getattr(request, "session", None)
    if session is not None:
        session[sessions.LAST_ACTIVITY] = int(time.time())
