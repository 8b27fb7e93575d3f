from django.apps import AppConfig


class PositionsConfig(AppConfig):
    name = "positions"
    verbose_name = "Positions"

    def ready(self):
        from positions import receivers  # noqa: F401 - connects the signal receivers
