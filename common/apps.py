from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        # Imported for what importing does: the system checks register, receivers connect.
        from common import checks, receivers  # noqa: F401
