from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "基幹連携"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deploy checks)
