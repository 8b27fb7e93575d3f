"""Dashboard sockets end with the session or the credentials they were opened with.

A socket is authenticated once, when it connects; without these it would go on
streaming a user's account events after logout, a password change or deactivation.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from realtime.groups import session_group, user_group
from realtime.publish import close_sockets_on_commit

User = get_user_model()


@receiver(user_logged_out, dispatch_uid="realtime.close_on_logout")
def _close_on_logout(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        close_sockets_on_commit(group=session_group(session.session_key), reason="logged out")


@receiver(pre_save, sender=User, dispatch_uid="realtime.note_credentials")
def _note_credentials(sender, instance, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    instance._sockets_must_close = before is not None and (
        before["password"] != instance.password or (before["is_active"] and not instance.is_active)
    )


@receiver(post_save, sender=User, dispatch_uid="realtime.close_on_credentials")
def _close_on_credentials(sender, instance, created=False, **kwargs) -> None:
    if not created and getattr(instance, "_sockets_must_close", False):
        instance._sockets_must_close = False
        close_sockets_on_commit(
            group=user_group(instance.pk), reason="password changed or user deactivated"
        )
